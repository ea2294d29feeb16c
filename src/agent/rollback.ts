import { join } from "node:path";
import type { Config } from "../config/types.js";
import { oneLine, UpdaterError } from "../errors.js";
import { exists } from "../fs/exists.js";
import { pointSymlink } from "../fs/symlink.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { readReleaseFile } from "../layout/release-file.js";
import { daemonReload, probe, restart } from "../pipeline/restart-and-probe.js";
import type { StepRecord } from "../pipeline/run-cycle.js";
import { swapSlots } from "../pipeline/steps/slots.js";
import { planUnits, syncUnits } from "../pipeline/steps/units.js";
import { slotVenv } from "../pipeline/steps/venvs.js";
import { buildReport, type ReleaseRef, type Report } from "../report/build.js";
import { loadState, saveState } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { type AgentDeps, createPipelineDeps } from "./deps.js";
import { recover } from "./recover.js";
import { fileReport } from "./reports.js";
import { lockHost } from "./trusted-dirs.js";

export interface RollbackResult {
  status: "rolled_back" | "rollback_failed";
  from: ReleaseRef | null;
  to: ReleaseRef;
  error: string | null;
  steps: StepRecord[];
  report: Report;
  exitCode: number;
}

export async function runRollback(config: Config, deps: AgentDeps): Promise<RollbackResult> {
  const lock = await lockHost(config);
  try {
    await recover(config, deps);
    const result = await manualRollback(config, deps);
    await fileReport(config, deps, result.report);
    return result;
  } finally {
    await lock.release();
  }
}

async function manualRollback(config: Config, deps: AgentDeps): Promise<RollbackResult> {
  const install = installPaths(config.install_dir);
  const active = await readReleaseFile(install.active);
  const prev = await readReleaseFile(install.prev);
  if (!prev) {
    throw new UpdaterError(
      "E_NO_PREV",
      `nothing to roll back to: ${install.prev} holds no release`,
    );
  }
  const prevVenv = slotVenv(prev) as string;
  if (!(await exists(join(install.root, prevVenv)))) {
    throw new UpdaterError(
      "E_NO_PREV",
      `the previous release's venv ${join(install.root, prevVenv)} is missing`,
    );
  }
  const startedAt = deps.now();
  const pipelineDeps = await createPipelineDeps(config, deps);
  const steps: StepRecord[] = [];
  const timed = async (name: string, work: () => Promise<void>) => {
    const started = deps.monotonicMs();
    try {
      await work();
      steps.push({ name, ms: Math.round(deps.monotonicMs() - started), ok: true });
    } catch (error) {
      steps.push({ name, ms: Math.round(deps.monotonicMs() - started), ok: false });
      throw error;
    }
  };
  let failure: unknown = null;
  try {
    await timed("rollback", async () => {
      await swapSlots(install);
      await pointSymlink(install.venvLink, prevVenv);
    });
    await timed("units", async () => {
      const changes = await syncUnits(
        await planUnits(install.active, config.units.allow),
        config.units.dir,
      );
      if (changes.length > 0) await daemonReload(pipelineDeps);
    });
    await timed("restart", () => restart(config, install, pipelineDeps));
    await timed("probe", async () => {
      const result = await probe(config, pipelineDeps, { sha: prev.sha, version: prev.version });
      if (!result.healthy) throw new UpdaterError("E_PROBE", result.detail);
    });
  } catch (error) {
    failure = error;
  } finally {
    await pipelineDeps.close();
  }
  const status = failure ? "rollback_failed" : "rolled_back";
  const from = active ? { sha: active.sha, version: active.version } : null;
  const to = { sha: prev.sha, version: prev.version };
  const report = buildReport({
    host_id: config.host_id,
    updater_version: UPDATER_VERSION,
    status,
    from,
    to,
    manifest_serial: null,
    started_at: startedAt.toISOString(),
    finished_at: deps.now().toISOString(),
    steps,
    error: failure,
    stderr: null,
    manual: true,
  });
  const paths = statePaths(config.state_dir);
  const state = await loadState(paths.state);
  state.last_result = {
    at: deps.now().toISOString(),
    status,
    error: failure ? oneLine(failure) : null,
    manifest_serial: null,
  };
  await saveState(paths.state, state);
  return {
    status,
    from,
    to,
    error: failure ? oneLine(failure) : null,
    steps,
    report,
    exitCode: failure ? 3 : 0,
  };
}
