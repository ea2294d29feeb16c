/**
 * Crash recovery, run at every start under the lock (SPEC section 9).
 *
 * The install dir is made consistent first, whatever happened: a half-done
 * slot swap is finished, a rotation that stopped half way is undone, a stale
 * active.new is removed, `current` points at releases/active. Then, if an
 * update was in flight (state_dir/inflight.json), it is settled: when the new
 * release was already restarted and answers healthy as itself it is
 * committed; otherwise it is rolled back with exactly what the record says
 * was changed. Its report, under the id the cycle chose, goes to the outbox.
 * A release rolled back here is not marked failed: a crash proves nothing
 * about the release.
 */
import { rm } from "node:fs/promises";
import type { Config } from "../config/types.js";
import { oneLine, UpdaterError } from "../errors.js";
import { exists } from "../fs/exists.js";
import { type AgentDeps, createPipelineDeps } from "../host/deps.js";
import { recordCycle } from "../host/record.js";
import { fileReport } from "../host/reports.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { readReleaseFile } from "../layout/release-file.js";
import type { UpdateContext } from "../pipeline/context.js";
import {
  clearInflight,
  decodeUnitChanges,
  type InflightRecord,
  loadInflight,
} from "../pipeline/inflight.js";
import { ensureCurrent, finishSwap, undoRotation } from "../pipeline/steps/slots.js";
import { recoveryEntry } from "../pipeline/transitions.js";
import { type Report, reportOf } from "../report/build.js";
import { recordOutcome } from "../state/failures.js";
import { loadState } from "../state/store.js";

export interface Recovery {
  /** What was repaired, for the log and for tests; empty when the install dir was clean. */
  actions: string[];
  report: Report | null;
  /**
   * An update is still in flight: the system shut down while recovery settled
   * it. Its record must stay as it is for the next start, so no cycle may
   * run after this one (a report it filed would clear the record, an update
   * would overwrite it).
   */
  unsettled: boolean;
}

export async function recover(config: Config, deps: AgentDeps): Promise<Recovery> {
  const install = installPaths(config.install_dir);
  const actions: string[] = [];
  const inflight = await loadInflight(config.state_dir);

  if (await finishSwap(install)) actions.push("finished an interrupted slot swap");
  if (inflight?.phase === "rotating") {
    // Stopped inside rotateSlots: nothing of the new release is live yet; undo it.
    await undoRotation(install, inflight.report_id);
    actions.push("undid an interrupted rotation");
  } else if (
    !inflight &&
    (((await exists(install.staging)) && !(await exists(install.active))) ||
      ((await exists(install.older)) && !(await exists(install.prev))))
  ) {
    // A half-done move with no record of it: put the slots that exist back in their places.
    await undoRotation(install, null);
    actions.push("undid an interrupted rotation");
  }
  if (await exists(install.staging)) {
    await rm(install.staging, { recursive: true, force: true });
    actions.push("removed a stale releases/active.new");
  }
  if (await exists(install.active)) await ensureCurrent(install);

  let report: Report | null = null;
  let unsettled = false;
  if (inflight?.kind === "rollback") {
    report = await settleRollback(config, deps, inflight, actions);
    await fileReport(config, deps, report, () => clearInflight(config.state_dir));
  } else if (inflight) {
    report = await settle(config, deps, inflight, actions);
    if (report) await fileReport(config, deps, report, () => clearInflight(config.state_dir));
    else unsettled = true;
  }
  if (actions.length > 0)
    deps.log.warn({ step: "recover", actions }, "Recovered from an interrupted run.");
  return { actions, report, unsettled };
}

/**
 * Recovery before a command that goes on to change the install dir (update,
 * rollback). When a shutdown left the in-flight update unsettled, nothing
 * may run after it: a report would clear its record, an update overwrite it.
 */
export async function recoverFirst(config: Config, deps: AgentDeps): Promise<Recovery> {
  const recovery = await recover(config, deps);
  if (recovery.unsettled)
    throw new UpdaterError(
      "E_STOPPED",
      "the system is shutting down while recovery settled an interrupted update; the next start settles it",
    );
  return recovery;
}

/**
 * The update's context rebuilt from its in-flight record, for the steps
 * recovery may run (probe, rollback): they read only the target's sha and
 * version, what ran before, and what the record says was changed.
 */
function contextOf(config: Config, record: InflightRecord): UpdateContext {
  return {
    config,
    install: installPaths(config.install_dir),
    state: statePaths(config.state_dir),
    target: {
      sha: record.target.sha,
      version: record.target.version ?? record.target.sha,
      url: "",
      sha256: "",
      size: 0,
      rollout: { percent: 100 },
    },
    tarballUrl: "",
    manifestSerial: record.manifest_serial ?? 0,
    from: record.from,
    venvRelative: record.venv,
    units: [],
    hadActive: record.had_active,
    // the undo of a rotation is guarded by which slots exist: safe whether or not it happened
    rotated: true,
    // no venv flip was recorded: point it back at the previous release's anyway
    promoteRecord: record.promote ?? { venvBefore: record.from?.venv ?? null },
    unitChanges: decodeUnitChanges(record.unit_changes),
    reportId: record.report_id,
    startedAt: record.started_at,
    steps: [...record.steps],
  };
}

/** A manual rollback in flight: finished as the operator asked (manual-rollback.ts). */
async function settleRollback(
  config: Config,
  deps: AgentDeps,
  record: InflightRecord,
  actions: string[],
): Promise<Report> {
  // loaded only with something in flight: a clean start never needs the pipeline's modules
  const { resumeRollback } = await import("./manual-rollback.js");
  const pipelineDeps = await createPipelineDeps(config, deps);
  try {
    const outcome = await resumeRollback(config, pipelineDeps, record);
    actions.push(
      `settled an interrupted manual rollback to ${record.target.version} (${outcome.status})`,
    );
    return outcome.report;
  } finally {
    await pipelineDeps.close();
  }
}

/**
 * An update in flight, settled through the update's own table: it enters at
 * the probe when the update had restarted the agent and its slot is live
 * (healthy: commit), at the restart when the system's shutdown interrupted
 * it there, else at the rollback, which undoes exactly what the record says
 * was changed (every undo is idempotent). Nothing here undoes by hand. A
 * release rolled back here is not marked failed: a crash proves nothing
 * about it. Null when the system shuts down again meanwhile: the record
 * stays for the start after.
 */
async function settle(
  config: Config,
  deps: AgentDeps,
  record: InflightRecord,
  actions: string[],
): Promise<Report | null> {
  const install = installPaths(config.install_dir);
  const target = record.target;
  const from = record.from;
  let status: "updated" | "rolled_back" | "rollback_failed" | "failed";
  let error: unknown;
  const active = await readReleaseFile(install.active);
  // The update's own slot (its id), not only its sha: a --force reinstall has the same sha.
  const entry = recoveryEntry(record.phase, active?.update_id === record.report_id);
  const ctx = contextOf(config, record);
  const { runCycle, statusOfTerminal } = await import("../pipeline/run-cycle.js");
  const pipelineDeps = await createPipelineDeps(config, deps);
  try {
    const outcome = await runCycle(ctx, pipelineDeps, { from: entry });
    if (outcome.terminal === "interrupted") {
      actions.push(`left ${target.version}, interrupted by a shutdown again, to the next start`);
      return null;
    }
    const settled = statusOfTerminal(outcome.terminal);
    if (settled === "interrupted") throw new Error("recovery entered the update before rotation");
    status = settled;
    // A first install has nothing to come back to; stopped inside the rotation, nothing went live.
    if (status === "rolled_back" && (!record.had_active || !from || record.phase === "rotating"))
      status = "failed";
    error =
      outcome.rollbackError ??
      outcome.error ??
      (status === "updated"
        ? null
        : new UpdaterError(
            "E_IO",
            `the updater stopped during the update (phase ${record.phase}); recovered at the next start`,
          ));
  } finally {
    await pipelineDeps.close();
  }
  actions.push(
    status === "updated"
      ? `committed ${target.version}: it was restarted and answers healthy`
      : `rolled back ${target.version} after an interruption (${status})`,
  );
  const steps = ctx.steps;
  return finish();

  async function finish(): Promise<Report> {
    const paths = statePaths(config.state_dir);
    const state = await loadState(paths.state);
    recordOutcome(state, {
      target: { version: target.version ?? target.sha, sha: target.sha },
      verdict: status,
      code: error instanceof UpdaterError ? error.code : null,
      error: error ? oneLine(error) : null,
      recovered: true,
      maxInstallAttempts: config.retry.max_install_attempts,
      now: deps.now(),
    });
    await recordCycle(
      paths.state,
      state,
      { now: deps.now(), status, error, serial: record.manifest_serial },
      { check: false, result: true, strict: true },
    );
    return reportOf(config, {
      id: record.report_id,
      status,
      from: from ? { sha: from.sha, version: from.version } : null,
      to: { sha: target.sha, version: target.version },
      manifest_serial: record.manifest_serial,
      started_at: record.started_at,
      finished_at: deps.now().toISOString(),
      steps,
      error,
      stderr: null,
    });
  }
}
