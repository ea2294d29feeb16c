/**
 * The first half of every cycle, shared by `check`, `update` and the
 * updater's own cycle: the current manifest (fetched and verified, or the
 * stored one after a 304), what is installed, and the verdict (verdict.ts).
 */
import type { Config } from "../config/types.js";
import type { Manifest } from "../feed/manifest.js";
import { installPaths, type StatePaths } from "../layout/paths.js";
import { type ReleaseInfo, readReleaseFile } from "../layout/release-file.js";
import type { State } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { noteSightings } from "./gates.js";
import { currentManifest, type ManifestSourceDeps } from "./manifest-source.js";
import { type Verdict, type VerdictInput, verdictOf } from "./verdict.js";

export interface Decided {
  manifest: Manifest;
  notModified: boolean;
  active: ReleaseInfo | null;
  verdict: Verdict;
  fetchMs: number;
  /** The master's Date header and this host's clock at that answer. */
  serverDate: string | null;
  receivedAt: Date;
}

export async function decide(
  config: Config,
  paths: StatePaths,
  state: State,
  deps: ManifestSourceDeps & { monotonicMs: () => number },
  force: boolean,
  options: { fresh?: boolean; self?: VerdictInput["self"] } = {},
): Promise<Decided> {
  const started = deps.monotonicMs();
  const current = await currentManifest(config, paths, state, deps, options);
  const fetchMs = Math.round(deps.monotonicMs() - started);
  // In memory; saved with the rest of the cycle's state (never by `plan`).
  noteSightings(state, current.manifest, deps.now());
  const active = await readReleaseFile(installPaths(config.install_dir).active);
  const verdict = verdictOf({
    config,
    state,
    manifest: current.manifest,
    activeSha: active?.sha ?? null,
    now: deps.now(),
    force,
    ...(options.self
      ? { self: options.self }
      : { updater: { version: UPDATER_VERSION, selfUpdate: config.self_update.enabled } }),
  });
  // The fetch step's line, with the fields of every step's (machine.ts): the release it decided on.
  deps.log.info(
    {
      step: "fetch",
      ms: fetchMs,
      sha: verdict.target.sha,
      version: verdict.target.version,
      serial: current.manifest.serial,
      not_modified: current.notModified,
    },
    "Step fetch done.",
  );
  return {
    manifest: current.manifest,
    notModified: current.notModified,
    active,
    verdict,
    fetchMs,
    serverDate: current.serverDate,
    receivedAt: current.receivedAt,
  };
}
