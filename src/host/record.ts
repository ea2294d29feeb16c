/**
 * What a cycle tells state.json about itself, written one way for every
 * cycle (`update`, `check`, the updater's own, recovery, a manual rollback):
 * the line `status` shows as "last check" and, when the cycle decided or
 * settled something, as "last result", and the counters the metrics
 * textfile reads.
 */
import { isUpdaterError } from "../errors.js";
import { UPDATE_RESULTS } from "../metrics/textfile.js";
import { checkRecord, countUpdate, type State, saveState } from "../state/store.js";

const COUNTED: ReadonlySet<string> = new Set(UPDATE_RESULTS);
/** The statuses that move `last_success_timestamp_seconds`. */
const SUCCESS: ReadonlySet<string> = new Set(["updated", "up_to_date", "held"]);

export interface CycleLine {
  now: Date;
  status: string;
  error: unknown;
  serial: number | null;
}

export interface RecordOptions {
  /** last_check: every cycle that asked the feed. */
  check: boolean;
  /** last_result: a cycle that decided or settled something. */
  result: boolean;
  /** The metrics counters (updates_total, last success); only the app's own feed keeps them. */
  metrics?: boolean;
  durationS?: number | null;
  /** Throw when state.json cannot be written (check), instead of going on without it. */
  strict?: boolean;
}

export async function recordCycle(
  path: string,
  state: State,
  line: CycleLine,
  options: RecordOptions,
): Promise<void> {
  const entry = checkRecord(line.now, line.status, line.error, line.serial);
  if (options.check) state.last_check = entry;
  if (options.result) state.last_result = entry;
  if (options.metrics) {
    if (COUNTED.has(line.status)) countUpdate(state, line.status);
    if (SUCCESS.has(line.status)) state.metrics.last_success_at = entry.at;
  }
  if (options.durationS !== undefined && options.durationS !== null)
    state.metrics.last_update_duration_s = options.durationS;
  // The state file being unreadable is the one failure we cannot record in it.
  if (isUpdaterError(line.error) && line.error.code === "E_STATE") return;
  const saved = saveState(path, state);
  await (options.strict ? saved : saved.catch(() => undefined));
}
