/**
 * The runner: executes steps in the order TRANSITIONS gives, times each one
 * for the report and the log, and stops at a terminal state. It holds no
 * update logic of its own.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fsError, isUpdaterError, type UpdaterError } from "../errors.js";
import type { PipelineDeps, UpdateContext } from "./context.js";
import { rollbackFailure } from "./rollback.js";
import type { StepRecord } from "./step-record.js";
import { STEP_RUNNERS } from "./step-runners.js";
import { commitRotation } from "./steps/slots.js";
import { pruneVenvs } from "./steps/venvs.js";
import {
  FIRST_STEP,
  isTerminal,
  type StepEvent,
  type StepName,
  type Terminal,
  TRANSITIONS,
} from "./transitions.js";

export type { StepRecord } from "./step-record.js";

export interface CycleOutcome {
  terminal: Terminal;
  steps: StepRecord[];
  /** The failure that ended or rolled back the cycle. */
  error: UpdaterError | null;
  /** Set when the rollback failed too. */
  rollbackError: UpdaterError | null;
  stderr: string | null;
}

function asUpdaterError(error: unknown, step: StepName): UpdaterError {
  return isUpdaterError(error) ? error : fsError(error, step);
}

export async function runCycle(ctx: UpdateContext, deps: PipelineDeps): Promise<CycleOutcome> {
  const steps = ctx.steps;
  let rollbackError: UpdaterError | null = null;
  let step: StepName = FIRST_STEP;
  for (;;) {
    const started = deps.monotonicMs();
    let event: StepEvent = "ok";
    try {
      await STEP_RUNNERS[step](ctx, deps);
    } catch (error) {
      event = "fail";
      if (step === "rollback") rollbackError = rollbackFailure(error);
      else ctx.error = asUpdaterError(error, step);
    }
    const ms = Math.round(deps.monotonicMs() - started);
    steps.push({ name: step, ms, ok: event === "ok" });
    const fields = { step, ms, sha: ctx.target.sha, version: ctx.target.version };
    if (event === "ok") deps.log.info(fields, `Step ${step} done.`);
    else
      deps.log.error(
        { ...fields, code: (rollbackError ?? ctx.error)?.code },
        `Step ${step} failed: ${(step === "rollback" ? rollbackError : ctx.error)?.message}`,
      );

    const next = TRANSITIONS[step][event];
    if (!isTerminal(next)) {
      step = next;
      continue;
    }
    if (next === "failed") await discardStaged(ctx);
    if (next === "committed") {
      await commitRotation(ctx.install);
      await pruneVenvs(ctx.install);
    }
    return {
      terminal: next,
      steps,
      error: ctx.error ?? null,
      rollbackError,
      stderr: ctx.stderrTail ?? null,
    };
  }
}

/** Before rotation nothing live changed: drop the staging slot and the new venv. */
async function discardStaged(ctx: UpdateContext): Promise<void> {
  await rm(ctx.install.staging, { recursive: true, force: true });
  await rm(join(ctx.install.root, ctx.venvRelative), { recursive: true, force: true });
}
