/**
 * The two ends of a self-update's trial (SPEC section 12):
 *
 * - `commitTrial`, run by the new release once it has recovered, loaded its
 *   configuration and verified a manifest: it files the "updated" report,
 *   then removes `trial` so the launcher stops counting.
 * - `settleFailedTrial`, run by the previous release once the launcher has
 *   put it back (`trial-failed.json`): it marks the new release failed so it
 *   is not tried again, and files the "rolled_back" report.
 *
 * Both file the report under the id the install chose (inflight.json), so a
 * crash between filing and cleaning up re-files the same report and the
 * master drops the duplicate.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/types.js";
import { writeFileAtomic } from "../fs/atomic.js";
import type { AgentDeps } from "../host/deps.js";
import { fileReport } from "../host/reports.js";
import { readReleaseFile } from "../layout/release-file.js";
import { pathsOf, type SelfPaths, TRIAL_STARTS, trialStarts } from "../layout/self-paths.js";
import { commitRotation } from "../pipeline/steps/slots.js";
import { type ReleaseRef, type Report, type ReportStatus, reportOf } from "../report/build.js";
import { recordOutcome } from "../state/failures.js";
import { checkRecord, countUpdate, loadState, saveState } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { runningRelease } from "./running.js";

/** What a self-update wrote before it flipped `current` (state_dir/self/inflight.json). */
export interface SelfInflight {
  schema: 1;
  report_id: string;
  started_at: string;
  manifest_serial: number | null;
  from: ReleaseRef | null;
  to: ReleaseRef;
  steps: Array<{ name: string; ms: number; ok: boolean }>;
}

export async function writeSelfInflight(paths: SelfPaths, record: SelfInflight): Promise<void> {
  await writeFileAtomic(paths.inflight, `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    const doc = JSON.parse(await readFile(path, "utf8"));
    return typeof doc === "object" && doc !== null ? (doc as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function readSelfInflight(paths: SelfPaths): Promise<SelfInflight | null> {
  const doc = await readJson(paths.inflight);
  const to = doc?.to as ReleaseRef | undefined;
  if (!doc || typeof doc.report_id !== "string" || typeof to?.sha !== "string") return null;
  return doc as unknown as SelfInflight;
}

/** A report about the updater's own release, under the id its install chose. */
export function selfReport(
  config: Config,
  inflight: SelfInflight,
  outcome: { status: ReportStatus; error: unknown; steps: SelfInflight["steps"]; now: Date },
): Report {
  return reportOf(config, {
    id: inflight.report_id,
    component: "updater",
    status: outcome.status,
    from: inflight.from,
    to: inflight.to,
    manifest_serial: inflight.manifest_serial,
    started_at: inflight.started_at,
    finished_at: outcome.now.toISOString(),
    steps: outcome.steps,
    error: outcome.error,
    stderr: null,
  });
}

/** The inflight steps plus `trial`: from the flip to the trial's end, across the restarts. */
function withTrialStep(inflight: SelfInflight, now: Date, ok: boolean): SelfInflight["steps"] {
  const ms = Math.max(0, now.getTime() - Date.parse(inflight.started_at));
  return [...inflight.steps, { name: "trial", ms, ok }];
}

/**
 * Ends this release's trial, if it is on one. Call only after recovery, a
 * loaded configuration and a verified manifest: that is what a commit means.
 */
export async function commitTrial(config: Config, deps: AgentDeps): Promise<void> {
  const paths = pathsOf(config);
  const starts = await trialStarts(paths);
  if (starts === null) return;
  // Only the release the launcher is counting may end the count.
  if (!(await runningRelease(paths, deps.env)).managed) return;
  const active = await readReleaseFile(paths.install.active);
  const inflight = await readSelfInflight(paths);
  if (inflight && active?.sha === inflight.to.sha) {
    const selfState = await loadState(paths.state.state);
    // A crash after this save and before `trial` went runs the commit again: count it once.
    const last = selfState.last_result;
    const counted =
      last?.status === "updated" && Date.parse(last.at) >= Date.parse(inflight.started_at);
    if (!counted) {
      recordOutcome(selfState, {
        target: inflight.to as { sha: string; version: string },
        verdict: "updated",
        code: null,
        error: null,
        maxInstallAttempts: config.retry.max_install_attempts,
        now: deps.now(),
      });
      countUpdate(selfState, "updated");
      selfState.last_result = checkRecord(deps.now(), "updated", null, inflight.manifest_serial);
      await saveState(paths.state.state, selfState);
    }
    await fileReport(
      config,
      deps,
      selfReport(config, inflight, {
        status: "updated",
        error: null,
        steps: withTrialStep(inflight, deps.now(), true),
        now: deps.now(),
      }),
      () => rm(paths.trial, { force: true }),
    );
  } else {
    // A flip that never happened (a crash before it): the release that ran is the one it was.
    await rm(paths.trial, { force: true });
  }
  // The release before prev was kept in case this one failed its trial.
  await commitRotation(paths.install);
  await rm(paths.inflight, { force: true });
  deps.log.info(
    { component: "updater", version: UPDATER_VERSION, sha: active?.sha ?? null, starts },
    `Updater ${UPDATER_VERSION} committed itself after ${starts} start(s) on trial.`,
  );
}

/** Reports a trial the launcher gave up on, marks that release failed, and tidies its slot. */
export async function settleFailedTrial(config: Config, deps: AgentDeps): Promise<void> {
  const paths = pathsOf(config);
  if (!existsSync(paths.trialFailed)) return; // every cycle; see trialStarts
  const left = await readJson(paths.trialFailed);
  if (left === null) return;
  const failedSlot = typeof left.failed_slot === "string" ? left.failed_slot : null;
  const starts = typeof left.starts === "number" ? left.starts : TRIAL_STARTS;
  const failed = failedSlot ? await readReleaseFile(failedSlot) : null;
  const restored = await readReleaseFile(paths.install.active);
  const inflight: SelfInflight = (await readSelfInflight(paths)) ?? {
    schema: 1,
    report_id: randomUUID(),
    started_at: typeof left.at === "string" ? left.at : deps.now().toISOString(),
    manifest_serial: null,
    from: restored ? { sha: restored.sha, version: restored.version } : null,
    to: { sha: failed?.sha ?? "unknown", version: failed?.version ?? null },
    steps: [],
  };
  const error = `updater ${inflight.to.version ?? inflight.to.sha} made ${starts} starts without committing; the launcher put ${restored?.version ?? "the previous release"} back`;
  const selfState = await loadState(paths.state.state);
  recordOutcome(selfState, {
    target: { sha: inflight.to.sha, version: inflight.to.version ?? "unknown" },
    verdict: "rolled_back",
    code: null,
    error,
    maxInstallAttempts: config.retry.max_install_attempts,
    now: deps.now(),
  });
  countUpdate(selfState, "rolled_back");
  selfState.last_result = checkRecord(deps.now(), "rolled_back", error, inflight.manifest_serial);
  await saveState(paths.state.state, selfState);
  deps.log.error(
    { component: "updater", sha: inflight.to.sha },
    `Self-update rolled back: ${error}.`,
  );
  await fileReport(
    config,
    deps,
    selfReport(config, inflight, {
      status: "rolled_back",
      error,
      steps: withTrialStep(inflight, deps.now(), false),
      now: deps.now(),
    }),
    async () => {
      await rm(paths.trialFailed, { force: true });
      await rm(paths.inflight, { force: true });
    },
  );
  await pruneFailedSlots(paths);
}

/** Keeps the newest releases/failed.<time> for a post-mortem; older ones go. */
async function pruneFailedSlots(paths: SelfPaths): Promise<void> {
  const failed = (await readdir(paths.install.releases).catch(() => [] as string[]))
    .filter((name) => /^failed\.\d+$/.test(name))
    .sort((a, b) => Number(b.slice(7)) - Number(a.slice(7)));
  for (const name of failed.slice(1))
    await rm(join(paths.install.releases, name), { recursive: true, force: true });
}
