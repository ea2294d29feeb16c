/**
 * Self-update acts only for the release the launcher runs. Everything else
 * (this checkout, a copy started by hand) gets a one-line reason and no
 * self-update, so a broken new release is never installed without a way back.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { selfPaths } from "../../src/layout/self-paths.js";
import { runningRelease } from "../../src/self-update/running.js";
import { tempDir } from "../helpers/tmp.js";

test("a program that is not the active slot's release does not update itself, and says why", async (t) => {
  const dir = await tempDir(t);
  const paths = selfPaths(join(dir, "opt/decnet-updater"), join(dir, "state"));
  const launcherEnv = {
    DECNET_UPDATER_LAUNCHER: "/usr/local/bin/decnet-updater",
    DECNET_UPDATER_INSTALL_DIR: paths.install.root,
  };
  for (const prepare of [
    async () => undefined,
    () => mkdir(paths.install.active, { recursive: true }),
  ]) {
    await prepare();
    const running = await runningRelease(paths, launcherEnv);
    assert.equal(running.managed, false);
    assert.match(
      (running as { reason: string }).reason,
      new RegExp(
        `^this program runs from .*/src/self-update/running\\.ts, not from ${paths.install.active}$`,
      ),
    );
  }
});
