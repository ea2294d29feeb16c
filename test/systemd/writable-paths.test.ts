/**
 * The start-up check of every configured path the agent writes
 * (src/host/writable-paths.ts), against a real read-only mount: what
 * ProtectSystem=strict makes of a path outside the unit's ReadWritePaths=.
 * The real-systemd test sees the same line from under the shipped unit.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { unwritablePaths, warnUnwritable } from "../../src/host/writable-paths.js";
import { createLogger } from "../../src/log.js";
import { makeSigner, writeAgentConfig } from "../helpers/feed.js";
import { makePki } from "../helpers/pki.js";
import { tempDir } from "../helpers/tmp.js";

const ROOT_SKIP =
  process.getuid?.() === 0 ? false : "needs root: mounts a read-only tmpfs (run the tests as root)";

test("a path on a read-only file system is named with its key; the writable ones are not", {
  skip: ROOT_SKIP,
}, async (t) => {
  const dir = await tempDir(t, "du-writable-");
  const readOnly = join(dir, "ro");
  await mkdir(join(readOnly), { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "du-writable-test", readOnly]);
  try {
    await checks(dir, readOnly);
  } finally {
    // before tempDir's own clean-up, which cannot remove a mount point
    execFileSync("umount", [readOnly]);
  }
});

async function checks(dir: string, readOnly: string): Promise<void> {
  await mkdir(join(dir, "pki"));
  await mkdir(join(dir, "host"));
  const pki = makePki(join(dir, "pki"));
  const signer = await makeSigner(join(dir, "keys"));
  const metrics = (textfile: string) =>
    writeAgentConfig(join(dir, "host"), pki, signer, "https://127.0.0.1:1/", {
      units: { dir: join(dir, "units") },
      install: { path_symlink: join(dir, "bin/decnet") },
      metrics: { textfile },
    }).then((host) => loadConfig(host.configFile));

  const inside = await metrics(join(readOnly, "decnet_updater.prom"));
  assert.deepEqual(await unwritablePaths(inside), [
    {
      key: "metrics.textfile",
      path: join(readOnly, "decnet_updater.prom"),
      why: "read-only file system",
    },
  ]);

  // a folder the agent would create: named at the nearest one that exists
  const below = await metrics(join(readOnly, "node-exporter/decnet_updater.prom"));
  assert.deepEqual(await unwritablePaths(below), [
    {
      key: "metrics.textfile",
      path: join(readOnly, "node-exporter/decnet_updater.prom"),
      why: `read-only file system at ${readOnly}, where it would be created`,
    },
  ]);

  // the line in the log: the key under config_key (pino redacts a field named "key")
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  assert.equal(await warnUnwritable(inside, createLogger("info", sink)), 1);
  const line = JSON.parse(lines.join(""));
  assert.equal(line.config_key, "metrics.textfile");
  assert.equal(
    line.msg,
    `metrics.textfile: cannot write ${join(readOnly, "decnet_updater.prom")} (read-only file system); under systemd, the unit's ReadWritePaths= must include it (systemd/README.md).`,
  );

  // nothing to say when every path can be written
  assert.deepEqual(await unwritablePaths(await metrics(join(dir, "metrics/x.prom"))), []);
  // install.path_symlink = "" turns the symlink off: no folder of it to check (not the cwd's)
  const noLink = await writeAgentConfig(join(dir, "host"), pki, signer, "https://127.0.0.1:1/", {
    units: { dir: join(dir, "units") },
    install: { path_symlink: "" },
  }).then((host) => loadConfig(host.configFile));
  const cwd = process.cwd();
  process.chdir(readOnly);
  try {
    assert.deepEqual(await unwritablePaths(noLink), []);
  } finally {
    process.chdir(cwd);
  }
}
