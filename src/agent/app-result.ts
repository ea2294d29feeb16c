/**
 * What DECNET's cycle ends with (agent/update.ts, agent/install.ts): its
 * result, the exit code of each status (SPEC section 7), and its line in
 * state.json.
 */
import { type CycleLine, recordCycle } from "../host/record.js";
import type { VerdictWord } from "../host/verdict.js";
import type { StepRecord } from "../pipeline/step-record.js";
import type { ReleaseRef, Report, ReportStatus } from "../report/build.js";
import type { State } from "../state/store.js";

/** interrupted: stopped part way (a stop before rotation, a shutdown after it); nothing is reported yet. */
export type UpdateStatus =
  | Exclude<ReportStatus, "warning" | "current">
  | "up_to_date"
  | "held"
  | "interrupted";

export interface AppResult {
  status: UpdateStatus;
  /** The verdict that decided the cycle (verdict.ts), null when it failed before one. */
  verdict: VerdictWord | null;
  /** Why, in the words `check` and `plan` use for the same situation. */
  reason: string | null;
  from: ReleaseRef | null;
  to: ReleaseRef | null;
  error: string | null;
  code: string | null;
  /** The last 8 KiB of the failing command's stderr (install, smoke). */
  stderr: string | null;
  steps: StepRecord[];
  report: Report | null;
  exitCode: number;
  manifestSerial: number | null;
}

export const EXIT_OF: Record<UpdateStatus, number> = {
  updated: 0,
  up_to_date: 0,
  held: 0,
  skipped: 0,
  failed: 1,
  rolled_back: 2,
  rollback_failed: 3,
  // EX_TEMPFAIL, as for a lock another instance holds: nothing to do now, the next run finishes it
  interrupted: 75,
};

/** The app cycle's line in state.json: last check and last result, and the metrics counters. */
export function recordApp(
  path: string,
  state: State,
  line: CycleLine,
  durationS: number | null = null,
): Promise<void> {
  return recordCycle(path, state, line, { check: true, result: true, metrics: true, durationS });
}
