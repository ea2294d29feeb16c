/**
 * The update's run: the update's table through the one runner (machine.ts),
 * and what each end leaves to do.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { UpdaterError } from "../errors.js";
import type { PipelineDeps, UpdateContext } from "./context.js";
import { runMachine } from "./machine.js";
import { rollbackFailure } from "./rollback.js";
import type { StepRecord } from "./step-record.js";
import { persistInflight, STEP_RUNNERS } from "./step-runners.js";
import { commitRotation } from "./steps/slots.js";
import { pruneVenvs } from "./steps/venvs.js";
import { STEPS, type StepName, type Terminal, UPDATE } from "./transitions.js";

export type { StepRecord } from "./step-record.js";

/** What each end of the update's table is called in state.json and reports. */
export function statusOfTerminal(
  terminal: Terminal,
): "updated" | "failed" | "rolled_back" | "rollback_failed" | "interrupted" {
  if (terminal === "committed") return "updated";
  return terminal === "abandoned" ? "interrupted" : terminal;
}

export interface CycleOutcome {
  terminal: Terminal;
  steps: StepRecord[];
  /** The failure that ended or rolled back the cycle. */
  error: UpdaterError | null;
  /** Set when the rollback failed too. */
  rollbackError: UpdaterError | null;
  stderr: string | null;
}

/**
 * Runs the update's table (transitions.ts, UPDATE) from its first step, or
 * from `from` when recovery enters it part way, then finishes what its end
 * asks: a failure or a stop before rotation drops the staged slot and venv,
 * a commit drops the release kept behind prev and the venvs no slot uses,
 * an update the shutdown interrupted leaves its in-flight record to the
 * next start.
 */
export async function runCycle(
  ctx: UpdateContext,
  deps: PipelineDeps,
  options: { from?: StepName } = {},
): Promise<CycleOutcome> {
  let rollbackError: UpdaterError | null = null;
  const runners = Object.fromEntries(
    STEPS.map((step) => [step, (c: UpdateContext) => STEP_RUNNERS[step](c, deps)]),
  ) as Record<StepName, (c: UpdateContext) => Promise<void>>;
  const terminal = await runMachine(UPDATE, {
    ...(options.from ? { from: options.from } : {}),
    ctx,
    runners,
    steps: ctx.steps,
    deps,
    release: { sha: ctx.target.sha, version: ctx.target.version },
    failed: (step, error) => {
      if (step !== "rollback") {
        ctx.error = error;
        return error;
      }
      rollbackError = rollbackFailure(error);
      return rollbackError;
    },
  });
  if (terminal === "failed" || terminal === "abandoned") await discardStaged(ctx);
  // The next start's recovery restarts the agent and probes it; an interrupted rollback it finishes.
  if (terminal === "interrupted" && ctx.steps.at(-1)?.name !== "rollback")
    await persistInflight(ctx, "interrupted");
  if (terminal === "committed") {
    await commitRotation(ctx.install);
    await pruneVenvs(ctx.install);
  }
  return {
    terminal,
    steps: ctx.steps,
    error: ctx.error ?? null,
    rollbackError,
    stderr: ctx.stderrTail ?? null,
  };
}

/** Before rotation nothing live changed: drop the staging slot and the new venv. */
async function discardStaged(ctx: UpdateContext): Promise<void> {
  await rm(ctx.install.staging, { recursive: true, force: true });
  await rm(join(ctx.install.root, ctx.venvRelative), { recursive: true, force: true });
}
