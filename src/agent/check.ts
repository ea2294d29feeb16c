/**
 * `check`: fetch, verify, decide. Changes nothing installed; in state_dir it
 * records the accepted serial, the ETag, the stored manifest and last_check.
 */
import type { Config } from "../config/types.js";
import { oneLine, UpdaterError } from "../errors.js";
import type { Decision } from "../feed/select.js";
import { statePaths } from "../layout/paths.js";
import { loadState, type State, saveState } from "../state/store.js";
import { decide } from "./decide.js";
import type { AgentDeps } from "./deps.js";
import { closedGate, waitReason } from "./gates.js";
import { lockHost } from "./trusted-dirs.js";

export interface ReleaseRef {
  sha: string;
  version: string | null;
}

export type CheckStatus = "up_to_date" | "update_available" | "held" | "skipped";

export interface CheckResult {
  status: CheckStatus;
  from: ReleaseRef | null;
  to: ReleaseRef;
  reason: string;
  manifest_serial: number;
  not_modified: boolean;
}

const STATUS_OF: Record<Decision["kind"], CheckStatus> = {
  update: "update_available",
  up_to_date: "up_to_date",
  held: "held",
  skipped: "skipped",
};

export async function runCheck(config: Config, deps: AgentDeps): Promise<CheckResult> {
  // check writes state.json (serial, ETag): one writer at a time.
  const lock = await lockHost(config);
  try {
    return await check(config, deps);
  } finally {
    await lock.release();
  }
}

async function check(config: Config, deps: AgentDeps): Promise<CheckResult> {
  const paths = statePaths(config.state_dir);
  const state = await loadState(paths.state);
  try {
    const { manifest, notModified, active, decision } = await decide(
      config,
      paths,
      state,
      deps,
      false,
    );
    const current = { manifest, notModified };
    // What `update` would do now: an available update may still wait for a gate.
    const closed = closedGate(config, state, decision, deps.now());
    const result: CheckResult = {
      status: STATUS_OF[decision.kind],
      from: active ? { sha: active.sha, version: active.version } : null,
      to: { sha: decision.target.sha, version: decision.target.version },
      reason: closed ? waitReason(decision.reason, closed) : decision.reason,
      manifest_serial: current.manifest.serial,
      not_modified: current.notModified,
    };
    await recordCheck(paths.state, state, deps.now(), result.status, null, result.manifest_serial);
    deps.log.info(
      { status: result.status, sha: result.to.sha, version: result.to.version },
      `Check: ${result.reason}.`,
    );
    return result;
  } catch (error) {
    // The state file itself being unreadable is the one failure we cannot record in it.
    if (!(error instanceof UpdaterError && error.code === "E_STATE")) {
      await recordCheck(
        paths.state,
        state,
        deps.now(),
        "error",
        oneLine(error),
        state.highest_serial,
      ).catch(() => undefined);
    }
    throw error;
  }
}

async function recordCheck(
  path: string,
  state: State,
  now: Date,
  status: string,
  error: string | null,
  serial: number | null,
): Promise<void> {
  state.last_check = { at: now.toISOString(), status, error, manifest_serial: serial };
  await saveState(path, state);
}
