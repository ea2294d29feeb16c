/**
 * `plan` (issue 9): everything the next cycle would decide and why, without
 * changing anything. It takes no lock and writes nothing in install_dir or
 * state_dir: the manifest is fetched whole and verified in memory (or the
 * stored one is used when the feed cannot be reached), state.json is read
 * without the corrupt-file handling that moves it, and the target's tarball,
 * when a unit diff needs it, is downloaded and unpacked in a temp folder that
 * is removed afterwards.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Config } from "../config/types.js";
import { oneLine } from "../errors.js";
import { checkExpiry } from "../feed/accept.js";
import type { Manifest, Release } from "../feed/manifest.js";
import { rolloutBucket } from "../feed/select.js";
import { releaseFileUrl } from "../feed/urls.js";
import { exists } from "../fs/exists.js";
import { type AgentDeps, createFeedClient } from "../host/deps.js";
import { evaluateGates, type GateVerdict, noteSightings } from "../host/gates.js";
import { fetchManifest, readStored } from "../host/manifest-source.js";
import { checkHostDirs } from "../host/trusted-dirs.js";
import { SAYS, type VerdictWord, verdictOf } from "../host/verdict.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { type ReleaseInfo, readReleaseFile } from "../layout/release-file.js";
import { downloadRelease, tarballPath, verifyDownload } from "../pipeline/steps/download.js";
import { extractRelease } from "../pipeline/steps/extract.js";
import { planUnits, previewUnitChanges, type UnitFile } from "../pipeline/steps/units.js";
import { type FailedRelease, peekState, type RetryRecord, type State } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { type Preflight, runPreflight } from "./preflight.js";

const execFileAsync = promisify(execFile);

export type PlanStatus = (typeof SAYS)[VerdictWord]["plan"] | "failed";

export interface UnitPlan {
  name: string;
  action: "add" | "change";
  /** `diff -u` of the installed file against the release's (absent when added). */
  diff: string | null;
}

export interface Plan {
  /** What the next cycle would do, in one word, and why. */
  status: PlanStatus;
  /** The verdict behind it (verdict.ts): the word `check` and `update --json` carry too. */
  verdict: VerdictWord;
  reason: string;
  updater_version: string;
  manifest: { serial: number; source: "feed" | "stored"; error: string | null };
  state_problem: string | null;
  active: SlotRef | null;
  prev: SlotRef | null;
  target: (SlotRef & { critical: boolean; min_updater: string | null; size: number }) | null;
  pin: { version: string | null; sha: string | null; hold: boolean; min_age_s: number | null };
  rollout: { percent: number; bucket: number; applies: boolean } | null;
  gates: Record<GateVerdict["name"], GateVerdict> | null;
  /** First sighting of the target by this host (pin.min_age counts from it). */
  first_seen: string | null;
  backoff: RetryRecord | null;
  failed_releases: Record<string, FailedRelease>;
  preflight: Preflight | null;
  units: { known: boolean; note: string | null; changes: UnitPlan[] };
  rollback: { restores: SlotRef | null; venv: string | null; units: UnitPlan[] };
}

interface SlotRef {
  sha: string;
  version: string | null;
}

const ref = (info: ReleaseInfo | null): SlotRef | null =>
  info ? { sha: info.sha, version: info.version } : null;

/** The manifest the next cycle would decide from, verified in memory; nothing stored. */
async function peekManifest(
  config: Config,
  state: State,
  deps: AgentDeps,
): Promise<{
  manifest: Manifest;
  source: "feed" | "stored";
  error: string | null;
  serverDate: string | null;
  receivedAt: Date;
}> {
  try {
    // Whole (no If-None-Match): the plan shows what the master says now.
    const fetched = await fetchManifest(config, { etag: null, state, now: deps.now });
    return {
      manifest: fetched.accepted.manifest,
      source: "feed",
      error: null,
      serverDate: fetched.serverDate,
      receivedAt: deps.now(),
    };
  } catch (error) {
    // The feed cannot be reached or refused: the next cycle would fail; say what the stored one says.
    // Verified again with today's keys; one that no longer verifies is no answer either.
    const stored = await readStored(config, statePaths(config.state_dir), state);
    if (stored === null) throw error;
    checkExpiry(stored.manifest, deps.now());
    return {
      manifest: stored.manifest,
      source: "stored",
      error: oneLine(error),
      serverDate: null,
      receivedAt: deps.now(),
    };
  }
}

/** `diff -u` of two texts (GNU diffutils, Essential on Debian); null when diff is missing. */
async function unifiedDiff(name: string, before: Buffer, after: Buffer): Promise<string | null> {
  const dir = await mkdtemp(join(tmpdir(), "du-plan-diff-"));
  try {
    await writeFile(join(dir, "installed"), before);
    await writeFile(join(dir, "release"), after);
    await execFileAsync(
      "diff",
      ["-u", "--label", `installed/${name}`, "--label", `release/${name}`, "installed", "release"],
      { cwd: dir },
    );
    return "";
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string };
    return failed.code === 1 && typeof failed.stdout === "string" ? failed.stdout : null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function unitPlans(units: UnitFile[], unitsDir: string): Promise<UnitPlan[]> {
  const plans: UnitPlan[] = [];
  const bytesOf = new Map(units.map((u) => [u.name, u.bytes]));
  for (const change of await previewUnitChanges(units, unitsDir)) {
    plans.push({
      name: change.name,
      action: change.previous === null ? "add" : "change",
      diff:
        change.previous === null
          ? null
          : await unifiedDiff(change.name, change.previous, bytesOf.get(change.name) as Buffer),
    });
  }
  return plans;
}

/** The target's units, from its tarball unpacked in a temp folder (fetched there unless a verified copy is cached). */
async function targetUnits(config: Config, target: Release, deps: AgentDeps): Promise<UnitPlan[]> {
  const work = await mkdtemp(join(tmpdir(), "du-plan-"));
  try {
    // A verified copy from an earlier cycle is read where it lies (read only).
    const cached = tarballPath(statePaths(config.state_dir).downloads, target.sha256);
    const tarball = (await exists(cached))
      ? cached
      : await downloadInto(config, target, join(work, "downloads"), deps);
    await extractRelease(tarball, join(work, "release"), {
      maxEntries: config.limits.max_entries,
      maxUnpackedBytes: config.limits.max_unpacked_bytes,
    });
    return unitPlans(await planUnits(join(work, "release"), config.units.allow), config.units.dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The target's tarball, downloaded and verified into `dir`. */
async function downloadInto(
  config: Config,
  target: Release,
  dir: string,
  deps: AgentDeps,
): Promise<string> {
  const client = await createFeedClient(config);
  try {
    const url = releaseFileUrl(config.feed.url, target.url);
    const downloaded = await downloadRelease({
      client,
      url,
      release: target,
      downloadsDir: dir,
      maxDownloadBytes: config.limits.max_download_bytes,
      timeoutMs: config.feed.timeout_ms,
      log: deps.log,
      monotonicMs: deps.monotonicMs,
    });
    return await verifyDownload(downloaded, target, dir, url);
  } finally {
    await client.close();
  }
}

export async function runPlan(config: Config, deps: AgentDeps): Promise<Plan> {
  await checkHostDirs(config);
  const paths = statePaths(config.state_dir);
  const install = installPaths(config.install_dir);
  // A copy: gates and backoff below work on it as the cycle would, and it is never saved.
  const { state, problem } = await peekState(paths.state);
  const now = deps.now();
  const peeked = await peekManifest(config, state, deps);
  noteSightings(state, peeked.manifest, now);
  const active = await readReleaseFile(install.active);
  const prev = await readReleaseFile(install.prev);
  // A copy of the state: the verdict is pure, and nothing here is saved.
  const verdict = verdictOf({
    config,
    state,
    manifest: peeked.manifest,
    activeSha: active?.sha ?? null,
    now,
    force: false,
    updater: { version: UPDATER_VERSION, selfUpdate: config.self_update.enabled },
  });
  const target = verdict.target;
  const pinned = config.pin.sha !== undefined || config.pin.version !== undefined;
  const gateList = evaluateGates(config, state, target, now);
  const differs = target.sha !== active?.sha;
  const preflight = differs
    ? await runPreflight({
        config,
        target,
        downloadsDir: paths.downloads,
        now,
        serverDate: peeked.serverDate,
        receivedAt: peeked.receivedAt,
      })
    : null;

  let status: PlanStatus = SAYS[verdict.word].plan;
  let reason = verdict.reason;
  if (problem) {
    // The next cycle refuses manifests (E_STATE) before it decides anything.
    status = "failed";
    reason = problem;
  } else if (verdict.word === "update" && preflight?.failure) {
    status = "failed";
    reason = oneLine(preflight.failure);
  }

  let units: Plan["units"] = { known: true, note: null, changes: [] };
  if (differs) {
    try {
      units.changes = await targetUnits(config, target, deps);
    } catch (error) {
      units = {
        known: false,
        note: `the release's units could not be read: ${oneLine(error)}`,
        changes: [],
      };
    }
  }
  const prevUnits = prev ? await planUnits(install.prev, config.units.allow).catch(() => []) : [];
  return {
    status,
    verdict: verdict.word,
    reason,
    updater_version: UPDATER_VERSION,
    manifest: { serial: peeked.manifest.serial, source: peeked.source, error: peeked.error },
    state_problem: problem,
    active: ref(active),
    prev: ref(prev),
    target: {
      sha: target.sha,
      version: target.version,
      critical: target.critical === true,
      min_updater: target.min_updater ?? null,
      size: target.size,
    },
    pin: {
      version: config.pin.version ?? null,
      sha: config.pin.sha ?? null,
      hold: config.pin.hold,
      min_age_s: config.pin.min_age_s ?? null,
    },
    rollout: {
      percent: target.rollout.percent,
      bucket: rolloutBucket(config.host_id, target.sha),
      applies: !pinned && active !== null,
    },
    gates: Object.fromEntries(gateList.map((g) => [g.name, g])) as Plan["gates"],
    first_seen: state.first_seen[target.sha] ?? null,
    backoff: state.retries[target.sha] ?? null,
    failed_releases: state.failed_releases,
    preflight,
    units,
    rollback: {
      restores: ref(prev),
      venv: prev?.venv ?? null,
      units: await unitPlans(prevUnits, config.units.dir),
    },
  };
}
