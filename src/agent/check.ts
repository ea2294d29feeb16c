/**
 * `check`: fetch, verify, decide. Changes nothing installed; in state_dir it
 * records the accepted serial, the ETag, the stored manifest and last_check.
 * Its word comes from the one verdict and the one table (verdict.ts):
 * `update_available` (exit 100) only when `update` would start the pipeline.
 */
import type { Config } from "../config/types.js";
import { oneLine, UpdaterError } from "../errors.js";
import { statePaths } from "../layout/paths.js";
import { loadState, type State, saveState } from "../state/store.js";
import { decide } from "./decide.js";
import type { AgentDeps } from "./deps.js";
import { lockHost } from "./trusted-dirs.js";
import { SAYS, type VerdictWord } from "./verdict.js";

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
