/**
 * DECNET's own cycle (the app's): decide from its feed, and when the verdict
 * is "update", preflight then the pipeline; record the outcome
 * (failed-release rules) in state.json and build the report. The whole
 * `update` around it (lock, recovery, reports, the updater's own cycle,
 * metrics) is cycle/run-update.ts. Exit codes follow SPEC section 7.
 */
import { randomUUID } from "node:crypto";
import type { Config } from "../config/types.js";
import { type ErrorCode, isUpdaterError, oneLine } from "../errors.js";
import { releaseFileUrl } from "../feed/urls.js";
import { type Decided, decide } from "../host/decide.js";
import { type AgentDeps, createPipelineDeps } from "../host/deps.js";
import { noteUpdate } from "../host/gates.js";
import { type CycleLine, recordCycle } from "../host/record.js";
import { fileReport } from "../host/reports.js";
import { SAYS, type VerdictWord } from "../host/verdict.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { pathsOf, trialStarts } from "../layout/self-paths.js";
import type { UpdateContext } from "../pipeline/context.js";
import { type CycleOutcome, runCycle, type StepRecord } from "../pipeline/run-cycle.js";
import { chooseVenv } from "../pipeline/steps/venvs.js";
import { type ReleaseRef, type Report, type ReportStatus, reportOf } from "../report/build.js";
import {
  type CycleVerdict,
  countBackoff,
  recordFailure,
  recordOutcome,
} from "../state/failures.js";
import { loadState, type State, saveState } from "../state/store.js";
import { runPreflight } from "./preflight.js";

export type UpdateStatus = Exclude<ReportStatus, "warning"> | "up_to_date" | "held";

export interface AppResult {
  status: UpdateStatus;
  /** The verdict that decided the cycle (verdict.ts), null when it failed before one. */
  verdict: VerdictWord | null;
  /** Why, in the words `check` and `plan` use for the same situation. */
  reason: string | null;
  from: ReleaseRef | null;
  to: ReleaseRef | null;
  error: string | null;
  code: string | null;
  /** The last 8 KiB of the failing command's stderr (install, smoke). */
  stderr: string | null;
  steps: StepRecord[];
  report: Report | null;
  exitCode: number;
  manifestSerial: number | null;
}

const TERMINAL_STATUS: Record<CycleOutcome["terminal"], CycleVerdict> = {
  committed: "updated",
  failed: "failed",
  rolled_back: "rolled_back",
  rollback_failed: "rollback_failed",
};

const EXIT_OF: Record<UpdateStatus, number> = {
  updated: 0,
  up_to_date: 0,
  held: 0,
  skipped: 0,
  failed: 1,
  rolled_back: 2,
  rollback_failed: 3,
};

/**
 * DECNET's own cycle, after recovery and the pending reports (the whole cycle
 * is cycle/run-update.ts): decide, and when the verdict is "update" run the
 * preflight and the pipeline. `onVerified` runs once a manifest has been
 * verified (a release of the updater on trial may then commit).
 */
export async function appCycle(
  config: Config,
  deps: AgentDeps,
  options: { force: boolean; onVerified?: () => Promise<void> },
): Promise<AppResult> {
  const paths = statePaths(config.state_dir);
  const startedAt = deps.now();
  const state = await loadState(paths.state);
  let decided: Decided;
  try {
    // On trial the manifest is fetched whole: the commit needs a signature checked by this release.
    const fresh = (await trialStarts(pathsOf(config))) !== null;
    decided = await decide(config, paths, state, deps, options.force, { fresh });
  } catch (error) {
    await record(paths.state, state, { now: deps.now(), status: "failed", error, serial: null });
    // A pin that matches nothing is found after the manifest verified: the master hears of it.
    if (isUpdaterError(error) && error.code === "E_PIN") {
      const finishedAt = deps.now().toISOString();
      await fileReport(
        config,
        deps,
        reportOf(config, {
          status: "failed",
          from: null,
          to: null,
          manifest_serial: state.highest_serial,
          started_at: startedAt.toISOString(),
          finished_at: finishedAt,
          steps: [],
          error,
          stderr: null,
        }),
      );
    }
    throw error;
  }
  // Recovered, configuration loaded, a manifest verified: a release on trial may commit.
  await options.onVerified?.();
  const { verdict, active, manifest } = decided;
  const target = verdict.target;
  const from: ReleaseRef | null = active ? { sha: active.sha, version: active.version } : null;
  const to: ReleaseRef = { sha: target.sha, version: target.version };
  const fetchStep: StepRecord = { name: "fetch", ms: decided.fetchMs, ok: true };
  const report = (
    status: ReportStatus,
    steps: StepRecord[],
    error: unknown,
    stderr: string | null,
    id?: string,
  ): Report =>
    reportOf(config, {
      ...(id ? { id } : {}),
      status,
      from,
      to,
      manifest_serial: manifest.serial,
      started_at: startedAt.toISOString(),
      finished_at: deps.now().toISOString(),
      steps,
      error,
      stderr,
    });

  // The one verdict (verdict.ts): anything but "update" ends the cycle here, as check and plan say.
  if (verdict.word !== "update") {
    const status = SAYS[verdict.word].update;
    const { reason, by } = verdict;
    if (by?.kind === "backoff") countBackoff(state, to.sha);
    deps.log.info({ status, sha: to.sha, version: to.version }, `Update: ${reason}.`);
    // A marked release's skip is reported once per manifest serial; a backoff skip is not reported.
    const mark = state.failed_releases[to.sha];
    let skipReport: Report | null = null;
    if (by?.kind === "marked" && mark && mark.reported_serial !== manifest.serial) {
      mark.reported_serial = manifest.serial;
      skipReport = report("skipped", [fetchStep], reason, null);
    }
    // The budget stopping an update is news for the master, once per target.
    if (by?.kind === "gate" && by.gate.name === "budget" && state.budget_reported_sha !== to.sha) {
      state.budget_reported_sha = to.sha;
      skipReport = report("skipped", [fetchStep], by.gate.reason, null);
    }
    await record(paths.state, state, {
      now: deps.now(),
      status,
      error: null,
      serial: manifest.serial,
    });
    return {
      status,
      verdict: verdict.word,
      reason,
      from,
      to,
      error: null,
      code: null,
      stderr: null,
      steps: [fetchStep],
      report: skipReport,
      exitCode: 0,
      manifestSerial: manifest.serial,
    };
  }

  // Before anything live: disk, certificates, clock. A failure is the host's, never the release's.
  const preflightStarted = deps.monotonicMs();
  const checked = await runPreflight({
    config,
    target,
    downloadsDir: paths.downloads,
    now: deps.now(),
    serverDate: decided.serverDate,
    receivedAt: decided.receivedAt,
  });
  const preflightStep: StepRecord = {
    name: "preflight",
    ms: Math.round(deps.monotonicMs() - preflightStarted),
    ok: checked.failure === null,
  };
  if (checked.failure) {
    const failure = checked.failure;
    deps.log.error(
      { code: failure.code, sha: to.sha, version: to.version },
      `Update: ${oneLine(failure)}.`,
    );
    recordFailure(state, target, failure, config.retry.max_install_attempts, deps.now());
    await record(paths.state, state, {
      now: deps.now(),
      status: "failed",
      error: failure,
      serial: manifest.serial,
    });
    const steps = [fetchStep, preflightStep];
    return {
      status: "failed",
      verdict: verdict.word,
      reason: verdict.reason,
      from,
      to,
      error: oneLine(failure),
      code: failure.code,
      stderr: null,
      steps,
      report: report("failed", steps, failure, null),
      exitCode: EXIT_OF.failed,
      manifestSerial: manifest.serial,
    };
  }
  // Counted before anything runs, so a crash mid-update still uses up its share of the budget.
  noteUpdate(state, deps.now());
  await saveState(paths.state, state);
  const install = installPaths(config.install_dir);
  const pipelineDeps = await createPipelineDeps(config, deps);
  let outcome: CycleOutcome;
  let reportId: string | undefined;
  try {
    const ctx: UpdateContext = {
      config,
      install,
      state: paths,
      target: target,
      tarballUrl: releaseFileUrl(config.feed.url, target.url),
      manifestSerial: manifest.serial,
      from: active,
      venvRelative: await chooseVenv(install, target.sha, deps.now().getTime()),
      units: [],
      hadActive: false,
      rotated: false,
      unitChanges: [],
      reportId: randomUUID(),
      startedAt: startedAt.toISOString(),
      steps: [],
    };
    reportId = ctx.reportId;
    deps.log.info(
      { sha: to.sha, version: to.version, from: from?.sha ?? null },
      `Updating: ${verdict.reason}.`,
    );
    outcome = await runCycle(ctx, pipelineDeps);
  } finally {
    await pipelineDeps.close();
  }
  // A first install that failed after rotation has nothing to roll back to: it failed.
  let status = TERMINAL_STATUS[outcome.terminal];
  if (status === "rolled_back" && from === null) status = "failed";
  const failure = outcome.rollbackError ?? outcome.error;
  const steps = [fetchStep, preflightStep, ...outcome.steps];
  const marked = recordOutcome(state, {
    target: target,
    verdict: status,
    code: (outcome.error?.code ?? null) as ErrorCode | null,
    error: failure ? oneLine(failure) : null,
    maxInstallAttempts: config.retry.max_install_attempts,
    now: deps.now(),
  });
  if (marked === "marked")
    deps.log.warn(
      { sha: to.sha, version: to.version },
      "The release is marked failed on this host.",
    );
  const durationS = Math.round((deps.now().getTime() - startedAt.getTime()) / 100) / 10;
  await record(
    paths.state,
    state,
    { now: deps.now(), status, error: failure, serial: manifest.serial },
    durationS,
  );
  return {
    status,
    verdict: verdict.word,
    reason: verdict.reason,
    from,
    to,
    error: failure ? oneLine(failure) : null,
    code: failure?.code ?? null,
    stderr: outcome.stderr,
    steps,
    report: report(status, steps, failure, outcome.stderr, reportId),
    exitCode: EXIT_OF[status],
    manifestSerial: manifest.serial,
  };
}

/** The app cycle's line in state.json: last check and last result, and the metrics counters. */
function record(
  path: string,
  state: State,
  line: CycleLine,
  durationS: number | null = null,
): Promise<void> {
  return recordCycle(path, state, line, { check: true, result: true, metrics: true, durationS });
}
