/**
 * Whether the running program may update itself: it must be the release in
 * `self_update.install_dir`'s active slot, started through the launcher for
 * that same dir. Anything else (a checkout, `npx`, a copy started by hand)
 * has no launcher counting its starts, so a broken new release would have
 * no way back: self-update then only says why it does nothing.
 */
import { realpath } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { SelfPaths } from "../layout/self-paths.js";

export interface LauncherEnv {
  /** Exported by the launcher: its own path, for a re-exec off systemd. */
  DECNET_UPDATER_LAUNCHER?: string | undefined;
  /** Exported by the launcher: the install dir whose trial it counts. */
  DECNET_UPDATER_INSTALL_DIR?: string | undefined;
}

export type Running = { managed: true; launcher: string } | { managed: false; reason: string };

/** This module's own file: it moves with the release it belongs to. */
const THIS_FILE = fileURLToPath(import.meta.url);

export async function runningRelease(paths: SelfPaths, env: LauncherEnv): Promise<Running> {
  const slot = await realpath(paths.install.active).catch(() => null);
  const here = await realpath(THIS_FILE).catch(() => THIS_FILE);
  if (slot === null || !here.startsWith(slot + sep)) {
    return {
      managed: false,
      reason: `this program runs from ${here}, not from ${paths.install.active}`,
    };
  }
  if (!env.DECNET_UPDATER_LAUNCHER) {
    return {
      managed: false,
      reason:
        "it was not started through the launcher (DECNET_UPDATER_LAUNCHER is not set), so nothing would count a new release's starts",
    };
  }
  const launcherDir = env.DECNET_UPDATER_INSTALL_DIR;
  if (launcherDir === undefined || resolve(launcherDir) !== resolve(paths.install.root)) {
    return {
      managed: false,
      reason: `the launcher counts starts in ${launcherDir ?? "(unset)"}, not in self_update.install_dir ${paths.install.root}`,
    };
  }
  return { managed: true, launcher: env.DECNET_UPDATER_LAUNCHER };
}
