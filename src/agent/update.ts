/**
 * `update`: one full cycle now. Decide, and when the target differs (or
 * --force), run the pipeline; record the result in state.json and build the
 * report. Exit codes follow SPEC section 7.
 */
import type { Config } from "../config/types.js";
import { oneLine, UpdaterError } from "../errors.js";
import { feedFileUrl } from "../feed/fetch.js";
import { installPaths, statePaths } from "../layout/paths.js";
import type { UpdateContext } from "../pipeline/context.js";
import { type CycleOutcome, runCycle, type StepRecord } from "../pipeline/run-cycle.js";
import { chooseVenv } from "../pipeline/steps/venvs.js";
import { buildReport, type ReleaseRef, type Report, type ReportStatus } from "../report/build.js";
import { loadState, type State, saveState } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { decide } from "./decide.js";
import { type AgentDeps, createPipelineDeps } from "./deps.js";

export type UpdateStatus = ReportStatus | "up_to_date" | "held";

export interface UpdateResult {
  status: UpdateStatus;
  from: ReleaseRef | null;
  to: ReleaseRef | null;
  error: string | null;
  code: string | null;
  /** The last 8 KiB of the failing command's stderr (install, smoke). */
  stderr: string | null;
  steps: StepRecord[];
  report: Report | null;
  exitCode: number;
}

const TERMINAL_STATUS: Record<CycleOutcome["terminal"], ReportStatus> = {
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

export async function runUpdate(
  config: Config,
  deps: AgentDeps,
  options: { force: boolean },
): Promise<UpdateResult> {
  const paths = statePaths(config.state_dir);
  const startedAt = deps.now();
  const state = await loadState(paths.state);
  let decided: Awaited<ReturnType<typeof decide>>;
  try {
    decided = await decide(config, paths, state, deps, options.force);
  } catch (error) {
    await record(paths.state, state, deps.now(), "failed", error, null);
    throw error;
  }
  const { decision, active, manifest } = decided;
  const from: ReleaseRef | null = active ? { sha: active.sha, version: active.version } : null;
  const to: ReleaseRef = { sha: decision.target.sha, version: decision.target.version };
  const fetchStep: StepRecord = { name: "fetch", ms: decided.fetchMs, ok: true };

  if (decision.kind !== "update") {
    const status: UpdateStatus = decision.kind;
    deps.log.info({ status, sha: to.sha, version: to.version }, `Update: ${decision.reason}.`);
    const report =
      status === "skipped"
        ? buildReport({
            host_id: config.host_id,
            updater_version: UPDATER_VERSION,
            status: "skipped",
            from,
            to,
            manifest_serial: manifest.serial,
            started_at: startedAt.toISOString(),
            finished_at: deps.now().toISOString(),
            steps: [fetchStep],
            error: decision.reason,
            stderr: null,
          })
        : null;
    await record(paths.state, state, deps.now(), status, null, manifest.serial);
    return {
      status,
      from,
      to,
      error: null,
      code: null,
      stderr: null,
      steps: [fetchStep],
      report,
      exitCode: 0,
    };
  }

  const install = installPaths(config.install_dir);
  const pipelineDeps = await createPipelineDeps(config, deps);
  let outcome: CycleOutcome;
  try {
    const ctx: UpdateContext = {
      config,
      install,
      state: paths,
      target: decision.target,
      tarballUrl: feedFileUrl(config.feed.url, decision.target.url),
      manifestSerial: manifest.serial,
      from: active,
      venvRelative: await chooseVenv(install, decision.target.sha, deps.now().getTime()),
      units: [],
      hadActive: false,
      rotated: false,
      unitChanges: [],
    };
    deps.log.info(
      { sha: to.sha, version: to.version, from: from?.sha ?? null },
      `Updating: ${decision.reason}.`,
    );
    outcome = await runCycle(ctx, pipelineDeps);
  } finally {
    await pipelineDeps.close();
  }
  // A first install that failed after rotation has nothing to roll back to: it failed.
  let status = TERMINAL_STATUS[outcome.terminal];
  if (status === "rolled_back" && from === null) status = "failed";
  const failure = outcome.rollbackError ?? outcome.error;
  const steps = [fetchStep, ...outcome.steps];
  const report = buildReport({
    host_id: config.host_id,
    updater_version: UPDATER_VERSION,
    status,
    from,
    to,
    manifest_serial: manifest.serial,
    started_at: startedAt.toISOString(),
    finished_at: deps.now().toISOString(),
    steps,
    error: failure,
    stderr: outcome.stderr,
  });
  await record(paths.state, state, deps.now(), status, failure, manifest.serial);
  return {
    status,
    from,
    to,
    error: failure ? oneLine(failure) : null,
    code: failure?.code ?? null,
    stderr: outcome.stderr,
    steps,
    report,
    exitCode: EXIT_OF[status],
  };
}

async function record(
  path: string,
  state: State,
  now: Date,
  status: string,
  error: unknown,
  serial: number | null,
): Promise<void> {
  const entry = {
    at: now.toISOString(),
    status,
    error: error ? oneLine(error) : null,
    manifest_serial: serial,
  };
  state.last_check = entry;
  state.last_result = entry;
  // The state file being unreadable is the one failure we cannot record in it.
  if (error instanceof UpdaterError && error.code === "E_STATE") return;
  await saveState(path, state).catch(() => undefined);
}
