/**
 * state.json: what this host has accepted and decided. Written atomically.
 *
 * The highest accepted serial is the host's defence against a replayed or
 * rolled-back feed, so a state file that cannot be read is never treated as
 * empty: that would accept an older serial. It is moved aside, a marker is
 * left, and manifests are refused (E_STATE) until an operator runs
 * `decnet-updater clear --state` or puts a valid file back.
 */
import { readFile, rename, rm } from "node:fs/promises";
import { oneLine, UpdaterError } from "../errors.js";
import { writeFileAtomic } from "../fs/atomic.js";

export interface CheckRecord {
  at: string;
  status: string;
  error: string | null;
  manifest_serial: number | null;
}

export interface FailedRelease {
  version: string;
  marked_at: string;
  attempts: number;
  error: string;
  /** The manifest serial whose skip of this release was last reported (once per serial). */
  reported_serial?: number | null;
}

/** An unmarked failure of a release: retried with exponential backoff, counted in cycles. */
export interface RetryRecord {
  version: string;
  failures: number;
  /** Consecutive install/smoke/archive failures, towards retry.max_install_attempts. */
  install_failures: number;
  /** Cycles still to skip before the next try. */
  skip_cycles: number;
  last_failure_at: string;
  error: string;
}

export interface State {
  schema: 1;
  highest_serial: number | null;
  manifest_sha256: string | null;
  etag: string | null;
  /**
   * Set once a manifest naming its component was accepted from this feed;
   * from then on an unnamed (older) manifest is refused (feed/accept.ts).
   */
  component_seen: boolean;
  last_check: CheckRecord | null;
  last_result: CheckRecord | null;
  /** Counters for the metrics textfile (SPEC section 10); they survive restarts. */
  metrics: StateMetrics;
  failed_releases: Record<string, FailedRelease>;
  retries: Record<string, RetryRecord>;
  /** sha -> when this host first saw the release in a verified manifest (pin.min_age). */
  first_seen: Record<string, string>;
  /** When each pipeline run of the last 24 hours started (limits.max_updates_per_day). */
  update_times: string[];
  /** The target whose stop by the update budget was reported (once per target). */
  budget_reported_sha: string | null;
  /** The warnings last reported on their own, and when (again after 24 h or when they change). */
  warned: { text: string; at: string } | null;
  /** When this host last filed a report of any kind: a heartbeat is due feed.heartbeat after it. */
  reported_at: string | null;
}

export interface StateMetrics {
  updates_total: Record<string, number>;
  last_success_at: string | null;
  last_update_duration_s: number | null;
}

/** One more update with this result (decnet_updater_updates_total{result}). */
export function countUpdate(state: State, result: string): void {
  state.metrics.updates_total[result] = (state.metrics.updates_total[result] ?? 0) + 1;
}

/** One check or result line of state.json; `error` becomes one line. */
export function checkRecord(
  now: Date,
  status: string,
  error: unknown,
  serial: number | null,
): CheckRecord {
  return {
    at: now.toISOString(),
    status,
    error: error ? oneLine(error) : null,
    manifest_serial: serial,
  };
}

export function emptyState(): State {
  return {
    schema: 1,
    highest_serial: null,
    manifest_sha256: null,
    etag: null,
    component_seen: false,
    last_check: null,
    last_result: null,
    failed_releases: {},
    retries: {},
    first_seen: {},
    update_times: [],
    budget_reported_sha: null,
    warned: null,
    reported_at: null,
    metrics: { updates_total: {}, last_success_at: null, last_update_duration_s: null },
  };
}

/** Left beside state.json when a corrupt one was moved aside; cleared by `clear --state`. */
export function refusedMarker(path: string): string {
  return `${path}.refused`;
}

export async function loadState(path: string): Promise<State> {
  let text: string | null;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new UpdaterError("E_STATE", `state ${path}: cannot read (${oneLine(error)})`, {
        cause: error,
      });
    }
    text = null;
  }
  if (text === null) {
    const refusal = await refusalOf(path);
    if (refusal !== null) throw new UpdaterError("E_STATE", refusal);
    return emptyState();
  }
  const why = problemWith(text);
  if (why !== null) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    await rename(path, aside);
    await writeFileAtomic(
      refusedMarker(path),
      `found corrupt (${why}) and moved to ${aside}\n`,
      0o600,
    );
    throw new StateMovedAside(
      `state ${path}: corrupt (${why}), moved to ${aside}; manifests are refused until 'decnet-updater clear --state' or the file is restored`,
    );
  }
  // A restored state file ends the refusal.
  await rm(refusedMarker(path), { force: true });
  return parseState(text);
}

/** A sound state file's text (problemWith found nothing), with the keys older files lack. */
function parseState(text: string): State {
  return { ...emptyState(), ...(JSON.parse(text) as Partial<State>) };
}

/** Why manifests are refused while state.json is missing after being moved aside, or null. */
async function refusalOf(path: string): Promise<string | null> {
  const refused = await readFile(refusedMarker(path), "utf8").catch(() => null);
  return refused === null
    ? null
    : `state ${path}: ${refused.trim()}; manifests are refused until 'decnet-updater clear --state' or the file is restored`;
}

/**
 * state.json for a reader that must change nothing (`plan`, `status`): a
 * missing file is an empty state (with the refusal, if one was left), an
 * unreadable one is reported instead of moved aside.
 */
export async function peekState(path: string): Promise<{ state: State; problem: string | null }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      return { state: emptyState(), problem: await refusalOf(path) };
    return { state: emptyState(), problem: `state ${path}: cannot read (${oneLine(error)})` };
  }
  const why = problemWith(text);
  if (why !== null)
    return {
      state: emptyState(),
      problem: `state ${path}: corrupt (${why}); the next cycle moves it aside`,
    };
  return { state: parseState(text), problem: null };
}

/** E_STATE at the moment a corrupt file is found and moved aside (reported once, not on every refusal). */
export class StateMovedAside extends UpdaterError {
  constructor(message: string) {
    super("E_STATE", message);
  }
}

function problemWith(text: string): string | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return "not valid JSON";
  }
  if (typeof doc !== "object" || doc === null || (doc as State).schema !== 1)
    return "expected an object with schema 1";
  const serial = (doc as State).highest_serial;
  if (serial !== null && serial !== undefined && !Number.isSafeInteger(serial))
    return "highest_serial is not an integer";
  return null;
}

/** `clear --state`: accept a fresh state after a corrupt one (the operator's explicit choice). */
export async function resetState(path: string): Promise<void> {
  await saveState(path, emptyState());
  await rm(refusedMarker(path), { force: true });
}

export async function saveState(path: string, state: State): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
