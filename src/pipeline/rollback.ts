/**
 * Undo a failed update: exactly what the cycle recorded it changed, in
 * reverse. The new release moves aside to releases/failed and the previous
 * slots come back (prev holds the last good release again), `venv` points at
 * the previous venv again, unit
 * files get their old bytes (units the release added are removed), then the
 * previous agent is restarted and must probe healthy as the previous release.
 * Because each release has its own venv, the rolled-back agent really runs
 * the previous code (the Python original left the new code in a shared venv).
 */
import { oneLine, UpdaterError } from "../errors.js";
import type { PipelineDeps, UpdateContext } from "./context.js";
import { daemonReload, probe, restart } from "./restart-and-probe.js";
import { revertPromote } from "./steps/promote.js";
import { stopAgent } from "./steps/restart.js";
import { undoRotation } from "./steps/slots.js";
import { revertUnits } from "./steps/units.js";

export async function rollbackUpdate(ctx: UpdateContext, deps: PipelineDeps): Promise<void> {
  const { install } = ctx;
  if (ctx.rotated) await undoRotation(install, ctx.reportId);
  deps.failpoint("mid-rollback");
  if (ctx.promoteRecord) await revertPromote(install, ctx.promoteRecord);
  if (ctx.unitChanges.length > 0) {
    await revertUnits(ctx.unitChanges, ctx.config.units.dir);
    await daemonReload(deps);
  }
  if (!ctx.hadActive || !ctx.from) {
    // A first install that failed: there is no previous agent to bring back.
    if (deps.restartMode === "process") {
      await stopAgent({
        paths: install,
        stopGraceMs: ctx.config.restart.stop_grace_ms,
        sleep: deps.sleep,
        monotonicMs: deps.monotonicMs,
        log: deps.log,
      });
    }
    return;
  }
  await restart(ctx.config, install, deps);
  const result = await probe(ctx.config, deps, { sha: ctx.from.sha, version: ctx.from.version });
  ctx.rollbackDetail = result.detail;
  if (!result.healthy) {
    throw new UpdaterError(
      "E_ROLLBACK",
      `the previous release ${ctx.from.version ?? ctx.from.sha} is not healthy either: ${result.detail}`,
    );
  }
}

export function rollbackFailure(error: unknown): UpdaterError {
  return error instanceof UpdaterError && error.code === "E_ROLLBACK"
    ? error
    : new UpdaterError("E_ROLLBACK", `rollback failed: ${oneLine(error)}`, { cause: error });
}
