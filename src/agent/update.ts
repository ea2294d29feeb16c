/**
 * DECNET's own cycle (the app's): decide from its feed; for any verdict but
 * "update" record and report what it says, else install the target
 * (install.ts). The whole `update` around it (lock, recovery, reports, the
 * updater's own cycle, metrics) is cycle/run-update.ts.
 */
import type { Config } from "../config/types.js";
import { isUpdaterError } from "../errors.js";
import { type Decided, decide } from "../host/decide.js";
import type { AgentDeps } from "../host/deps.js";
import { fileReport } from "../host/reports.js";
import { SAYS } from "../host/verdict.js";
import { statePaths } from "../layout/paths.js";
import { pathsOf, trialStarts } from "../layout/self-paths.js";
import type { StepRecord } from "../pipeline/run-cycle.js";
import { type ReleaseRef, type Report, type ReportStatus, reportOf } from "../report/build.js";
import { countBackoff } from "../state/failures.js";
import { loadState } from "../state/store.js";
import { type AppResult, recordApp as record } from "./app-result.js";

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

  // loaded only now: a check that installs nothing never needs the pipeline's modules
  const { installTarget } = await import("./install.js");
  return installTarget({
    config,
    deps,
    paths,
    state,
    decided,
    startedAt,
    from,
    to,
    fetchStep,
    report,
  });
}
