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
import { pointSymlink } from "../fs/symlink.js";
import { type AgentDeps, createPipelineDeps } from "../host/deps.js";
import { recordCycle } from "../host/record.js";
import { fileReport } from "../host/reports.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { readReleaseFile } from "../layout/release-file.js";
import {
  clearInflight,
  decodeUnitChanges,
  type InflightRecord,
  loadInflight,
} from "../pipeline/inflight.js";
import { daemonReload, probe, restart } from "../pipeline/restart-and-probe.js";
import type { StepRecord } from "../pipeline/step-record.js";
import { revertPromote } from "../pipeline/steps/promote.js";
import {
  commitRotation,
  ensureCurrent,
  finishSwap,
  undoRotation,
} from "../pipeline/steps/slots.js";
import { revertUnits } from "../pipeline/steps/units.js";
import { pruneVenvs } from "../pipeline/steps/venvs.js";
import { buildReport, type Report } from "../report/build.js";
import { recordOutcome } from "../state/failures.js";
import { loadState } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { resumeRollback } from "./manual-rollback.js";

export interface Recovery {
  /** What was repaired, for the log and for tests; empty when the install dir was clean. */
  actions: string[];
  report: Report | null;
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
  if (inflight?.kind === "rollback") {
    report = await settleRollback(config, deps, inflight, actions);
    await fileReport(config, deps, report, () => clearInflight(config.state_dir));
  } else if (inflight) {
    report = await settle(config, deps, inflight, actions);
    await fileReport(config, deps, report, () => clearInflight(config.state_dir));
  }
  if (actions.length > 0)
    deps.log.warn({ step: "recover", actions }, "Recovered from an interrupted run.");
  return { actions, report };
}

/** A manual rollback in flight: finished as the operator asked (manual-rollback.ts). */
async function settleRollback(
  config: Config,
  deps: AgentDeps,
  record: InflightRecord,
  actions: string[],
): Promise<Report> {
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

async function settle(
  config: Config,
  deps: AgentDeps,
  record: InflightRecord,
  actions: string[],
): Promise<Report> {
  const install = installPaths(config.install_dir);
  const pipelineDeps = await createPipelineDeps(config, deps);
  const steps: StepRecord[] = [...record.steps];
  const target = record.target;
  const from = record.from;
  let status: "updated" | "rolled_back" | "rollback_failed" | "failed";
  let error: unknown = new UpdaterError(
    "E_IO",
    `the updater stopped during the update (phase ${record.phase}); recovered at the next start`,
  );
  const started = deps.monotonicMs();
  try {
    const active = await readReleaseFile(install.active);
    // The update's own slot (its id), not only its sha: a --force reinstall has the same sha.
    const newIsActive = active?.update_id === record.report_id;
    if (newIsActive && record.phase === "restarted") {
      const health = await probe(config, pipelineDeps, {
        sha: target.sha,
        version: target.version,
      });
      if (health.healthy) {
        await commitRotation(install);
        await pruneVenvs(install);
        actions.push(`committed ${target.version}: it was restarted and answers healthy`);
        steps.push({ name: "probe", ms: Math.round(deps.monotonicMs() - started), ok: true });
        status = "updated";
        error = null;
        return finish();
      }
      error = new UpdaterError("E_PROBE", `after an interruption: ${health.detail}`);
    }
    // Roll back whatever the record says was changed; every undo is idempotent.
    await undoRotation(install, record.report_id);
    if (record.promote) await revertPromote(install, record.promote);
    else if (from?.venv) await pointSymlink(install.venvLink, from.venv);
    const unitChanges = decodeUnitChanges(record.unit_changes);
    if (unitChanges.length > 0) {
      await revertUnits(unitChanges, config.units.dir);
      await daemonReload(pipelineDeps);
    }
    if (!record.had_active || !from) {
      status = "failed";
      actions.push("undid an interrupted first install");
      return finish();
    }
    await restart(config, install, pipelineDeps);
    const health = await probe(config, pipelineDeps, { sha: from.sha, version: from.version });
    steps.push({
      name: "rollback",
      ms: Math.round(deps.monotonicMs() - started),
      ok: health.healthy,
    });
    if (!health.healthy) {
      status = "rollback_failed";
      error = new UpdaterError(
        "E_ROLLBACK",
        `after an interruption the previous release is not healthy: ${health.detail}`,
      );
    } else {
      // Stopped inside the rotation: nothing of the new release went live.
      status = record.phase === "rotating" ? "failed" : "rolled_back";
    }
    actions.push(`rolled back ${target.version} after an interruption (${status})`);
    return finish();
  } catch (failure) {
    status = "rollback_failed";
    error = new UpdaterError("E_ROLLBACK", `recovery failed: ${oneLine(failure)}`, {
      cause: failure,
    });
    return finish();
  } finally {
    await pipelineDeps.close();
  }

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
    return buildReport({
      id: record.report_id,
      host_id: config.host_id,
      updater_version: UPDATER_VERSION,
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
