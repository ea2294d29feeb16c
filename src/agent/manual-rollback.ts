/**
 * The manual `rollback`: active and prev trade places, `venv` follows, the
 * previous release's unit files come back and the ones the newer release
 * added go, the agent restarts and must probe healthy as the previous
 * release.
 *
 * It runs as rows of the one table (transitions.ts, MANUAL_ROLLBACK) through
 * the one runner. Crash-safe like an update: the in-flight record (kind
 * "rollback") is written before the slots move and names the units to
 * remove. Recovery (recover.ts) then finishes what the operator asked for: a
 * rollback that stopped before the swap changed nothing and is reported as
 * such; one that stopped after it enters the table at `units` and is
 * reported under the same id.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/types.js";
import { oneLine, UpdaterError } from "../errors.js";
import { exists } from "../fs/exists.js";
import { pointSymlink, readLinkOrNull } from "../fs/symlink.js";
import { checkOwnTree } from "../fs/trust.js";
import { recordCycle } from "../host/record.js";
import { type InstallPaths, installPaths, statePaths } from "../layout/paths.js";
import { type ReleaseInfo, readReleaseFile } from "../layout/release-file.js";
import type { PipelineDeps } from "../pipeline/context.js";
import { type InflightRecord, saveInflight } from "../pipeline/inflight.js";
import { runMachine } from "../pipeline/machine.js";
import { daemonReload, probe, restart } from "../pipeline/restart-and-probe.js";
import type { StepRecord } from "../pipeline/step-record.js";
import { swapSlots } from "../pipeline/steps/slots.js";
import { planUnits, removeUnits, syncUnits } from "../pipeline/steps/units.js";
import { slotVenv } from "../pipeline/steps/venvs.js";
import { MANUAL_ROLLBACK, type ManualRollbackStep } from "../pipeline/transitions.js";
import { type Report, reportOf } from "../report/build.js";
import { loadState } from "../state/store.js";

export type ManualRollbackStatus = "rolled_back" | "rollback_failed" | "failed";

export interface ManualRollbackOutcome {
  status: ManualRollbackStatus;
  from: ReleaseInfo | null;
  to: { sha: string; version: string | null };
  error: UpdaterError | null;
  steps: StepRecord[];
  report: Report;
}

/**
 * Unit files the active (newer) release added: shipped by it, not by the
 * release we go back to, and still as it wrote them. A file an operator
 * changed since, or one outside units.allow, is left alone.
 */
async function unitsAddedBy(
  install: InstallPaths,
  target: readonly { name: string }[],
  config: Config,
): Promise<string[]> {
  const keep = new Set(target.map((unit) => unit.name));
  let newer: Awaited<ReturnType<typeof planUnits>>;
  try {
    newer = await planUnits(install.active, config.units.allow);
  } catch {
    return []; // the live release no longer passes units.allow: touch none of its units
  }
  const added: string[] = [];
  for (const unit of newer) {
    if (keep.has(unit.name)) continue;
    const installed = await readFile(join(config.units.dir, unit.name)).catch(() => null);
    if (installed?.equals(unit.bytes)) added.push(unit.name);
  }
  return added;
}

export interface PreparedRollback {
  record: InflightRecord;
  from: ReleaseInfo | null;
  target: ReleaseInfo;
}

/**
 * Checks that there is a release to go back to (and that it is not marked
 * failed, unless `force`), and plans the unit files; changes nothing.
 */
export async function prepareRollback(
  config: Config,
  options: { force: boolean; reportId: string; startedAt: string },
): Promise<PreparedRollback> {
  const install = installPaths(config.install_dir);
  const from = await readReleaseFile(install.active);
  const target = await readReleaseFile(install.prev);
  if (!target)
    throw new UpdaterError(
      "E_NO_PREV",
      `nothing to roll back to: ${install.prev} holds no release`,
    );
  const venv = slotVenv(target) as string;
  if (!(await exists(join(install.root, venv))))
    throw new UpdaterError(
      "E_NO_PREV",
      `the previous release's venv ${join(install.root, venv)} is missing`,
    );
  const mark = (await loadState(statePaths(config.state_dir).state)).failed_releases[target.sha];
  if (mark && !options.force)
    throw new UpdaterError(
      "E_NO_PREV",
      `${install.prev} holds ${target.version ?? target.sha} (${target.sha.slice(0, 12)}), marked failed on this host at ${mark.marked_at} (${mark.error}); roll back to it anyway with --force`,
    );
  // A slot left by an older updater kept its archive's modes: it goes live only if nobody else could change it.
  const uid = process.getuid?.() ?? 0;
  checkOwnTree({ key: "releases/prev", path: install.prev }, uid);
  checkOwnTree({ key: "its venv", path: join(install.root, venv) }, uid);
  // A unit the previous release may not install is refused before anything moves.
  const units = await planUnits(install.prev, config.units.allow);
  return {
    from,
    target,
    record: {
      schema: 1,
      kind: "rollback",
      report_id: options.reportId,
      started_at: options.startedAt,
      manifest_serial: null,
      from,
      target: { sha: target.sha, version: target.version },
      venv,
      had_active: from !== null,
      phase: "swapping",
      promote: { venvBefore: await readLinkOrNull(install.venvLink) },
      unit_changes: [],
      unit_removals: await unitsAddedBy(install, units, config),
      steps: [],
    },
  };
}

/**
 * The steps of the manual rollback's table (transitions.ts,
 * MANUAL_ROLLBACK). From `units` on each is safe to run again: recovery
 * enters the table there for a rollback that stopped after its swap.
 */
function rollbackRunners(
  config: Config,
  deps: PipelineDeps,
): Record<ManualRollbackStep, (record: InflightRecord) => Promise<void>> {
  const install = installPaths(config.install_dir);
  return {
    async rollback(record) {
      await swapSlots(install);
      deps.failpoint("mid-rollback");
      await saveInflight(config.state_dir, { ...record, phase: "swapped" });
      await pointSymlink(install.venvLink, record.venv);
    },
    async units(record) {
      await pointSymlink(install.venvLink, record.venv);
      const units = await planUnits(install.active, config.units.allow);
      const changed = await syncUnits(units, config.units.dir);
      const removed = await removeUnits(record.unit_removals ?? [], config.units.dir);
      if (changed.length + removed > 0) await daemonReload(deps);
    },
    async restart(record) {
      await saveInflight(config.state_dir, { ...record, phase: "restarted" });
      await restart(config, install, deps);
    },
    async probe(record) {
      const result = await probe(config, deps, record.target);
      if (!result.healthy) throw new UpdaterError("E_PROBE", result.detail);
    },
  };
}

async function runRollbackTable(
  config: Config,
  deps: PipelineDeps,
  record: InflightRecord,
  from: ManualRollbackStep,
): Promise<ManualRollbackOutcome> {
  let error: UpdaterError | null = null;
  const end = await runMachine(MANUAL_ROLLBACK, {
    from,
    ctx: record,
    runners: rollbackRunners(config, deps),
    steps: record.steps,
    deps,
    release: record.target,
    failed: (_step, cause) => {
      error = failure(cause);
      return error;
    },
  });
  return finish(config, deps, record, end, error);
}

/** The swap, with the record written first (do not reorder), then the rest of the table. */
export async function runPreparedRollback(
  config: Config,
  deps: PipelineDeps,
  prepared: PreparedRollback,
): Promise<ManualRollbackOutcome> {
  await saveInflight(config.state_dir, prepared.record);
  return runRollbackTable(config, deps, prepared.record, "rollback");
}

/** Recovery of a manual rollback in flight (record.kind "rollback"), after finishSwap ran. */
export async function resumeRollback(
  config: Config,
  deps: PipelineDeps,
  record: InflightRecord,
): Promise<ManualRollbackOutcome> {
  const active = await readReleaseFile(installPaths(config.install_dir).active);
  const swapped =
    record.phase !== "swapping" ||
    (active?.sha === record.target.sha && record.from?.sha !== record.target.sha);
  if (!swapped)
    return finish(
      config,
      deps,
      record,
      "failed",
      new UpdaterError(
        "E_IO",
        "the manual rollback was interrupted before anything changed; run it again",
      ),
    );
  return runRollbackTable(config, deps, record, "units");
}

function failure(error: unknown): UpdaterError {
  return error instanceof UpdaterError && error.code === "E_ROLLBACK"
    ? error
    : new UpdaterError("E_ROLLBACK", `rollback failed: ${oneLine(error)}`, { cause: error });
}

async function finish(
  config: Config,
  deps: PipelineDeps,
  record: InflightRecord,
  status: ManualRollbackStatus,
  error: UpdaterError | null,
): Promise<ManualRollbackOutcome> {
  const paths = statePaths(config.state_dir);
  await recordCycle(
    paths.state,
    await loadState(paths.state),
    { now: deps.now(), status, error, serial: null },
    { check: false, result: true, strict: true },
  );
  const from = record.from ? { sha: record.from.sha, version: record.from.version } : null;
  const report = reportOf(config, {
    id: record.report_id,
    status,
    from,
    to: record.target,
    manifest_serial: null,
    started_at: record.started_at,
    finished_at: deps.now().toISOString(),
    steps: record.steps,
    error,
    stderr: null,
    manual: true,
  });
  return { status, from: record.from, to: record.target, error, steps: record.steps, report };
}
