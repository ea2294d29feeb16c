/**
 * The one runner of every table in transitions.ts: it runs the step the
 * table names, times it for the report and the log (one `timed` for all),
 * fires the failpoint the table names after a step that went ok, and
 * follows the table until an end. A stop request ends it where the table's
 * `onStop` says, and a failure while the system shuts down where its
 * `onShutdown` says. It holds no update logic of its own.
 */
import { fsError, isUpdaterError, type UpdaterError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Failpoint } from "./failpoints.js";
import type { StepRecord } from "./step-record.js";
import type { Machine, StepEvent } from "./transitions.js";

export interface MachineRun<Step extends string, Ctx> {
  /** Where to enter the table (recovery enters it part way); default its first step. */
  from?: Step;
  ctx: Ctx;
  runners: Record<Step, (ctx: Ctx) => Promise<void>>;
  /** Appended to as the steps end (the in-flight record shares this array). */
  steps: StepRecord[];
  deps: {
    log: Logger;
    monotonicMs: () => number;
    failpoint: (name: Failpoint) => void;
    /** Aborted when the process was asked to stop (SIGTERM, SIGINT). */
    stop?: AbortSignal;
    /** Whether the init system is shutting down (asked only after a failure). */
    shuttingDown?: () => Promise<boolean>;
  };
  /** The release the log lines name. */
  release: { sha: string; version: string | null };
  /** Keeps the failure where the caller wants it (the context); returns it, named, for the log. */
  failed: (step: Step, error: UpdaterError) => UpdaterError;
}

function asUpdaterError(error: unknown, step: string): UpdaterError {
  return isUpdaterError(error) ? error : fsError(error, step);
}

export async function runMachine<Step extends string, End extends string, Ctx>(
  machine: Machine<Step, End>,
  run: MachineRun<Step, Ctx>,
): Promise<End> {
  const ends: readonly string[] = machine.ends;
  let step: Step = run.from ?? machine.first;
  const stopped = (at: Step): End | undefined =>
    run.deps.stop?.aborted ? machine.onStop?.[at] : undefined;
  for (;;) {
    const before = stopped(step);
    if (before) {
      run.deps.log.warn(
        { step, sha: run.release.sha, version: run.release.version },
        `Stopped before step ${step}: nothing live has changed.`,
      );
      return before;
    }
    const started = run.deps.monotonicMs();
    let event: StepEvent = "ok";
    let failure: UpdaterError | null = null;
    try {
      await run.runners[step](run.ctx);
    } catch (error) {
      event = "fail";
      failure = run.failed(step, asUpdaterError(error, step));
    }
    const ms = Math.round(run.deps.monotonicMs() - started);
    run.steps.push({ name: step, ms, ok: event === "ok" });
    const fields = { step, ms, sha: run.release.sha, version: run.release.version };
    if (failure === null) {
      run.deps.log.info(fields, `Step ${step} done.`);
      const point = machine.failpointAfter[step];
      if (point) run.deps.failpoint(point);
    } else {
      const cut = stopped(step) ?? (await shutdownEnd(machine, run, step));
      if (cut) {
        run.deps.log.warn(
          { ...fields, code: failure.code },
          `Step ${step} cut short (${run.deps.stop?.aborted ? "stop requested" : "the system is shutting down"}): ${failure.message}`,
        );
        return cut;
      }
      run.deps.log.error(
        { ...fields, code: failure.code },
        `Step ${step} failed: ${failure.message}`,
      );
    }
    const next = machine.rows[step][event];
    if (ends.includes(next)) return next as End;
    step = next as Step;
  }
}

/** The table's end for a failure of `step` while the system shuts down, if it names one. */
async function shutdownEnd<Step extends string, End extends string, Ctx>(
  machine: Machine<Step, End>,
  run: MachineRun<Step, Ctx>,
  step: Step,
): Promise<End | undefined> {
  const end = machine.onShutdown?.[step];
  if (!end || !run.deps.shuttingDown) return undefined;
  return (await run.deps.shuttingDown()) ? end : undefined;
}
