/**
 * DECNET's release installed, once the verdict said "update": preflight
 * (before anything live; a failure is the host's, never the release's), the
 * update counted against the budget, the pipeline (its table through the one
 * runner), and its outcome recorded (the failed-release rules) and reported.
 */
import { randomUUID } from "node:crypto";
import type { Config } from "../config/types.js";
import { type ErrorCode, oneLine, UpdaterError } from "../errors.js";
import { releaseFileUrl } from "../feed/urls.js";
import type { Decided } from "../host/decide.js";
import { type AgentDeps, createPipelineDeps } from "../host/deps.js";
import { forgetUpdate, noteUpdate } from "../host/gates.js";
import { installPaths, type StatePaths } from "../layout/paths.js";
import type { UpdateContext } from "../pipeline/context.js";
import { type CycleOutcome, runCycle, statusOfTerminal } from "../pipeline/run-cycle.js";
import type { StepRecord } from "../pipeline/step-record.js";
import { chooseVenv } from "../pipeline/steps/venvs.js";
import type { ReleaseRef, Report, ReportStatus } from "../report/build.js";
import { recordFailure, recordOutcome } from "../state/failures.js";
import { type State, saveState } from "../state/store.js";
import { type AppResult, EXIT_OF, recordApp as record } from "./app-result.js";
import { runPreflight } from "./preflight.js";

export interface InstallInput {
  config: Config;
  deps: AgentDeps;
  paths: StatePaths;
  state: State;
  decided: Decided;
  startedAt: Date;
  from: ReleaseRef | null;
  to: ReleaseRef;
  fetchStep: StepRecord;
  report: (
    status: ReportStatus,
    steps: StepRecord[],
    error: unknown,
    stderr: string | null,
    id?: string,
  ) => Report;
}

export async function installTarget(input: InstallInput): Promise<AppResult> {
  const { config, deps, paths, state, decided, startedAt, from, to, fetchStep, report } = input;
  const { verdict, active, manifest } = decided;
  const target = verdict.target;
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
  const stepFields = { step: "preflight", ms: preflightStep.ms, sha: to.sha, version: to.version };
  if (checked.failure)
    deps.log.error({ ...stepFields, code: checked.failure.code }, "Step preflight failed.");
  else deps.log.info(stepFields, "Step preflight done.");
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
  const countedAt = deps.now();
  noteUpdate(state, countedAt);
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
  const settled = statusOfTerminal(outcome.terminal);
  if (settled === "interrupted") {
    // A stop before rotation is not the release's fault and not an update done: not marked, not counted.
    if (outcome.terminal === "abandoned") forgetUpdate(state, countedAt);
    return interrupted(input, outcome, [fetchStep, preflightStep, ...outcome.steps]);
  }
  // A first install that failed after rotation has nothing to roll back to: it failed.
  let status = settled;
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

/**
 * A cycle cut short: stopped before rotation (abandoned: the staged slot is
 * gone, the next cycle tries again) or by the system's shutdown after it (the
 * in-flight record stays; the next start restarts, probes and reports it
 * under the cycle's id). Nothing is marked and no report is sent now.
 */
async function interrupted(
  input: InstallInput,
  outcome: CycleOutcome,
  steps: StepRecord[],
): Promise<AppResult> {
  const { deps, paths, state, decided, from, to } = input;
  const cause = outcome.rollbackError ?? outcome.error;
  const error =
    outcome.terminal === "abandoned"
      ? new UpdaterError(
          "E_STOPPED",
          `stopped before anything live changed (the process was asked to stop); ${to.version} is tried again at the next cycle`,
        )
      : new UpdaterError(
          "E_STOPPED",
          `the system is shutting down${cause ? ` (${oneLine(cause)})` : ""}; the next start restarts the agent, probes ${to.version} and reports it`,
        );
  deps.log.warn(
    { code: error.code, sha: to.sha, version: to.version },
    `Update: ${error.message}.`,
  );
  await record(paths.state, state, {
    now: deps.now(),
    status: "interrupted",
    error,
    serial: decided.manifest.serial,
  });
  return {
    status: "interrupted",
    verdict: decided.verdict.word,
    reason: decided.verdict.reason,
    from,
    to,
    error: oneLine(error),
    code: error.code,
    stderr: null,
    steps,
    report: null,
    exitCode: EXIT_OF.interrupted,
    manifestSerial: decided.manifest.serial,
  };
}
