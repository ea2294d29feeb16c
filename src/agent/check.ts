/**
 * `check`: fetch, verify, decide. Changes nothing installed; in state_dir it
 * records the accepted serial, the ETag, the stored manifest and last_check.
 * Its word comes from the one verdict and the one table (verdict.ts):
 * `update_available` (exit 100) only when `update` would start the pipeline.
 */
import type { Config } from "../config/types.js";

import { decide } from "../host/decide.js";
import type { AgentDeps } from "../host/deps.js";
import { recordCycle } from "../host/record.js";
import { lockHost } from "../host/trusted-dirs.js";
import { SAYS, type VerdictWord } from "../host/verdict.js";
import { statePaths } from "../layout/paths.js";
import { loadState } from "../state/store.js";

export interface ReleaseRef {
  sha: string;
  version: string | null;
}

export type CheckStatus = "up_to_date" | "update_available" | "held" | "skipped";

export interface CheckResult {
  status: CheckStatus;
  /** The verdict behind the status, the same word `plan` and `update --json` carry. */
  verdict: VerdictWord;
  from: ReleaseRef | null;
  to: ReleaseRef;
  reason: string;
  manifest_serial: number;
  not_modified: boolean;
}

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
    const { manifest, notModified, active, verdict } = await decide(
      config,
      paths,
      state,
      deps,
      false,
    );
    const result: CheckResult = {
      status: SAYS[verdict.word].check,
      verdict: verdict.word,
      from: active ? { sha: active.sha, version: active.version } : null,
      to: { sha: verdict.target.sha, version: verdict.target.version },
      reason: verdict.reason,
      manifest_serial: manifest.serial,
      not_modified: notModified,
    };
    await recordCycle(
      paths.state,
      state,
      { now: deps.now(), status: result.status, error: null, serial: result.manifest_serial },
      { check: true, result: false, strict: true },
    );
    deps.log.info(
      { status: result.status, sha: result.to.sha, version: result.to.version },
      `Check: ${result.reason}.`,
    );
    return result;
  } catch (error) {
    await recordCycle(
      paths.state,
      state,
      { now: deps.now(), status: "error", error, serial: state.highest_serial },
      { check: true, result: false },
    );
    throw error;
  }
}
