/**
 * The first half of every cycle, shared by `check` and `update`: the current
 * manifest (fetched and verified, or the stored one after a 304), what is
 * installed, and the decision.
 */
import type { Config } from "../config/types.js";
import type { Manifest } from "../feed/manifest.js";
import { type Decision, selectRelease } from "../feed/select.js";
import { installPaths, type StatePaths } from "../layout/paths.js";
import { type ReleaseInfo, readReleaseFile } from "../layout/release-file.js";
import type { State } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { noteSightings } from "./gates.js";
import { currentManifest, type ManifestSourceDeps } from "./manifest-source.js";

export interface Decided {
  manifest: Manifest;
  notModified: boolean;
  active: ReleaseInfo | null;
  decision: Decision;
  fetchMs: number;
  /** The master's Date header and this host's clock at that answer. */
  serverDate: string | null;
  receivedAt: Date;
}

/** Shas marked failed that may not be retried yet at `now`. */
export function blockedShas(state: State, retryAfterS: number | null, now: Date): Set<string> {
  const blocked = new Set<string>();
  for (const [sha, mark] of Object.entries(state.failed_releases)) {
    const due =
      retryAfterS !== null && Date.parse(mark.marked_at) + retryAfterS * 1000 <= now.getTime();
    if (!due) blocked.add(sha);
  }
  return blocked;
}

export async function decide(
  config: Config,
  paths: StatePaths,
  state: State,
  deps: ManifestSourceDeps & { monotonicMs: () => number },
  force: boolean,
  options: { fresh?: boolean } = {},
): Promise<Decided> {
  const started = deps.monotonicMs();
  const current = await currentManifest(config, paths, state, deps, options);
  const fetchMs = Math.round(deps.monotonicMs() - started);
  // In memory; saved with the rest of the cycle's state (never by `plan`).
  noteSightings(state, current.manifest, deps.now());
  const active = await readReleaseFile(installPaths(config.install_dir).active);
  const decision = selectRelease({
    manifest: current.manifest,
    pin: config.pin,
    hostId: config.host_id,
    activeSha: active?.sha ?? null,
    blockedShas: blockedShas(state, config.retry.failed_release_s, deps.now()),
    force,
    updater: { version: UPDATER_VERSION, selfUpdate: config.self_update.enabled },
  });
  return {
    manifest: current.manifest,
    notModified: current.notModified,
    active,
    decision,
    fetchMs,
    serverDate: current.serverDate,
    receivedAt: current.receivedAt,
  };
}
