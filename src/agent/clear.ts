/** `clear SHA` forgets that a release failed; `clear --state` accepts a fresh state.json. */
import type { Config } from "../config/types.js";
import { UpdaterError } from "../errors.js";
import { statePaths } from "../layout/paths.js";
import { clearRelease } from "../state/failures.js";
import { acquireLock } from "../state/lock.js";
import { loadState, resetState, saveState } from "../state/store.js";

export async function runClear(
  config: Config,
  target: { sha?: string; state?: boolean },
): Promise<string> {
  const paths = statePaths(config.state_dir);
  const lock = await acquireLock(config.state_dir);
  try {
    if (target.state) {
      await resetState(paths.state);
      return `state ${paths.state}: reset; the next manifest with any serial is accepted`;
    }
    const sha = target.sha as string;
    const state = await loadState(paths.state);
    if (!clearRelease(state, sha)) {
      throw new UpdaterError(
        "E_USAGE",
        `no failed or retried release with sha ${sha} (known: ${[...Object.keys(state.failed_releases), ...Object.keys(state.retries)].join(", ") || "none"})`,
      );
    }
    await saveState(paths.state, state);
    return `release ${sha} cleared: it will be tried on the next cycle`;
  } finally {
    await lock.release();
  }
}
