/**
 * What `status` and the metrics textfile say about the updater itself: the
 * running version, its own slots, a trial in progress, and its feed's last
 * check, result and failed releases. Files only, no network.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/types.js";
import { exists } from "../fs/exists.js";
import { readReleaseFile } from "../layout/release-file.js";
import { pathsOf, TRIAL_STARTS, trialStarts } from "../layout/self-paths.js";
import type { UpdaterMetrics } from "../metrics/textfile.js";
import { type CheckRecord, type FailedRelease, peekState, type State } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";

export interface UpdaterSlot {
  sha: string;
  version: string | null;
  installed_at: string | null;
}

export interface UpdaterStatus {
  running_version: string;
  enabled: boolean;
  feed_url: string | null;
  install_dir: string;
  active: UpdaterSlot | null;
  prev: UpdaterSlot | null;
  /** A release on trial: the launcher's start count so far, of `limit`. */
  trial: { starts: number; limit: number } | null;
  /** The launcher put the previous release back and the report is not filed yet. */
  trial_failed_pending: boolean;
  last_check: CheckRecord | null;
  last_result: CheckRecord | null;
  failed_releases: Record<string, FailedRelease>;
}

/**
 * A slot of the updater: its release file, or for the release an operator
 * unpacked by hand (no release file) the version in its package.json.
 */
async function slot(dir: string): Promise<UpdaterSlot | null> {
  const info = await readReleaseFile(dir);
  if (info) return { sha: info.sha, version: info.version, installed_at: info.installed_at };
  const pkg = await readFile(join(dir, "package.json"), "utf8")
    .then((text) => JSON.parse(text) as { version?: unknown } | null)
    .catch(() => null);
  if (typeof pkg?.version !== "string") return null;
  return { sha: "unknown", version: pkg.version, installed_at: null };
}

/** The feed state of the updater, read without side effects; null when it cannot be read (status must still answer). */
async function selfState(config: Config): Promise<State | null> {
  const { state, problem } = await peekState(pathsOf(config).state.state);
  return problem === null ? state : null;
}

export async function updaterStatus(config: Config): Promise<UpdaterStatus> {
  const paths = pathsOf(config);
  const starts = await trialStarts(paths);
  const state = await selfState(config);
  return {
    running_version: UPDATER_VERSION,
    enabled: config.self_update.enabled,
    feed_url: config.self_update.feed_url ?? null,
    install_dir: paths.install.root,
    active: await slot(paths.install.active),
    prev: await slot(paths.install.prev),
    trial: starts === null ? null : { starts, limit: TRIAL_STARTS },
    trial_failed_pending: await exists(paths.trialFailed),
    last_check: state?.last_check ?? null,
    last_result: state?.last_result ?? null,
    failed_releases: state?.failed_releases ?? {},
  };
}

export async function updaterMetrics(config: Config): Promise<UpdaterMetrics> {
  const paths = pathsOf(config);
  const state = await selfState(config);
  return {
    version: UPDATER_VERSION,
    activeSha: (await readReleaseFile(paths.install.active))?.sha ?? null,
    onTrial: (await trialStarts(paths)) !== null,
    updatesTotal: state?.metrics.updates_total ?? {},
  };
}
