/**
 * Where self-update keeps its files. The updater's install dir has the
 * agent's slot layout (installPaths) plus the launcher's two files; its feed
 * state (serial, ETag, stored manifest, failed marks, downloads) lives in
 * `state_dir/self/`, a state dir of its own with the same schema, so the
 * updater's feed can never roll back the app feed's serial or the other way
 * round. Reports share the one outbox.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type InstallPaths, installPaths, type StatePaths, statePaths } from "./paths.js";

export interface SelfPaths {
  install: InstallPaths;
  /** A start count while a new release is on trial; the launcher writes it, the release removes it (its commit). */
  trial: string;
  /** Left by the launcher when it put the previous release back. */
  trialFailed: string;
  state: StatePaths;
  /** What the self-update in flight installed: read by its commit or by the report of its failure. */
  inflight: string;
}

export function selfPaths(installDir: string, stateDir: string): SelfPaths {
  const state = statePaths(join(stateDir, "self"));
  return {
    install: installPaths(installDir),
    trial: join(installDir, "trial"),
    trialFailed: join(installDir, "trial-failed.json"),
    state,
    inflight: join(state.root, "inflight.json"),
  };
}

/** The launcher's rule (launcher/decnet-updater-launch): this many starts without a commit roll back. */
export const TRIAL_STARTS = 3;

/** The self-update paths of a configuration. */
export function pathsOf(config: {
  state_dir: string;
  self_update: { install_dir: string };
}): SelfPaths {
  return selfPaths(config.self_update.install_dir, config.state_dir);
}

/** The launcher's start count, or null when no release is on trial. */
export async function trialStarts(paths: SelfPaths): Promise<number | null> {
  // Asked every cycle and almost always absent: a stat costs microseconds, a failed read a rejected promise.
  if (!existsSync(paths.trial)) return null;
  const text = await readFile(paths.trial, "utf8").catch(() => null);
  if (text === null) return null;
  const starts = Number.parseInt(text.trim(), 10);
  return Number.isNaN(starts) ? 0 : starts;
}
