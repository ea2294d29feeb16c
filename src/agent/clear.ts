import type { Config } from "../config/types.js";
import { UpdaterError } from "../errors.js";
import { exists } from "../fs/exists.js";
import { lockHost } from "../host/trusted-dirs.js";
import { statePaths } from "../layout/paths.js";
import { selfPaths } from "../layout/self-paths.js";
import { clearRelease } from "../state/failures.js";
import { loadState, refusedMarker, resetState, saveState } from "../state/store.js";

export async function runClear(
  config: Config,
  target: { sha?: string; state?: boolean },
): Promise<string> {
  const paths = statePaths(config.state_dir);
  const selfState = selfPaths(config.self_update.install_dir, config.state_dir).state.state;
  const lock = await lockHost(config);
  try {
    if (target.state) {
      await resetState(paths.state);
      const selfRefused = await exists(refusedMarker(selfState));
      if (selfRefused) await resetState(selfState);
      return `state ${paths.state}${selfRefused ? ` and the updater's own ${selfState}` : ""}: reset; the next manifest with any serial is accepted`;
    }
    const sha = target.sha as string;
    const state = await loadState(paths.state);
    if (clearRelease(state, sha)) {
      await saveState(paths.state, state);
      return `release ${sha} cleared: it will be tried on the next cycle`;
    }
    const own = await loadState(selfState);
    if (clearRelease(own, sha)) {
      await saveState(selfState, own);
      return `updater release ${sha} cleared: it will be tried on the next cycle`;
    }
    const known = [
      ...Object.keys(state.failed_releases),
      ...Object.keys(state.retries),
      ...Object.keys(own.failed_releases).map((s) => `${s} (updater)`),
      ...Object.keys(own.retries).map((s) => `${s} (updater)`),
    ];
    throw new UpdaterError(
      "E_USAGE",
      `no failed or retried release with sha ${sha} (known: ${known.join(", ") || "none"})`,
    );
  } finally {
    await lock.release();
  }
}
