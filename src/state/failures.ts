/**
 * The failed-release rules (SPEC section 4), as pure functions over State.
 *
 * A release is marked failed only when its own fault is proven: it was
 * rolled back and the previous release came back healthy (the host is fine),
 * or its content failed to install `max_install_attempts` cycles in a row.
 * Download, digest, disk and network errors, a failed rollback or a crash
 * never mark it: they are retried, skipping 1, 2, 4 ... cycles in between
 * (at most 6 h apart), so a broken mirror does not hammer the master.
 */
import { type ErrorCode, oneLine, type UpdaterError } from "../errors.js";
import type { State } from "./store.js";

/** Failures caused by what the release contains: deterministic, so they count towards marking. */
const CONTENT_FAULTS = new Set<ErrorCode>(["E_INSTALL", "E_SMOKE", "E_ARCHIVE", "E_UNITS"]);
export const MAX_BACKOFF_S = 6 * 3600;
const MAX_SKIP_CYCLES = 1024;

export type CycleVerdict = "updated" | "rolled_back" | "rollback_failed" | "failed";

export interface OutcomeInput {
  target: { sha: string; version: string };
  verdict: CycleVerdict;
  code: ErrorCode | null;
  error: string | null;
  /** True for a rollback done by crash recovery: the release's fault is not proven. */
  recovered?: boolean;
  maxInstallAttempts: number;
  now: Date;
}

/** Records a cycle's outcome; returns "marked" when the release is now marked failed. */
export function recordOutcome(state: State, input: OutcomeInput): "marked" | "retry" | "cleared" {
  const { sha, version } = input.target;
  if (input.verdict === "updated") {
    delete state.retries[sha];
    delete state.failed_releases[sha];
    return "cleared";
  }
  const previous = state.retries[sha];
  const contentFault =
    input.code !== null && CONTENT_FAULTS.has(input.code) && input.verdict === "failed";
  const installFailures = contentFault ? (previous?.install_failures ?? 0) + 1 : 0;
  const proven =
    (input.verdict === "rolled_back" && !input.recovered) ||
    (contentFault && installFailures >= input.maxInstallAttempts);
  if (proven) {
    delete state.retries[sha];
    state.failed_releases[sha] = {
      version,
      marked_at: input.now.toISOString(),
      attempts: (previous?.failures ?? 0) + 1,
      error: input.error ?? "unknown",
      reported_serial: null,
    };
    return "marked";
  }
  const failures = (previous?.failures ?? 0) + 1;
  state.retries[sha] = {
    version,
    failures,
    install_failures: installFailures,
    skip_cycles: Math.min(2 ** (failures - 1), MAX_SKIP_CYCLES),
    last_failure_at: input.now.toISOString(),
    error: input.error ?? "unknown",
  };
  return "retry";
}

/** A cycle that failed before anything live changed: the error's code decides whether it counts. */
export function recordFailure(
  state: State,
  target: OutcomeInput["target"],
  failure: UpdaterError,
  maxInstallAttempts: number,
  now: Date,
): "marked" | "retry" | "cleared" {
  return recordOutcome(state, {
    target,
    verdict: "failed",
    code: failure.code,
    error: oneLine(failure),
    maxInstallAttempts,
    now,
  });
}

/**
 * Why this cycle skips `sha` to back off after unmarked failures, or null.
 * Pure: `check` and `plan` ask it too; only a cycle counts the skip
 * (countBackoff). The 6 h cap lets a sparse schedule retry.
 */
export function backoffReason(state: State, sha: string, now: Date): string | null {
  const retry = state.retries[sha];
  if (!retry || retry.skip_cycles <= 0) return null;
  if (now.getTime() - Date.parse(retry.last_failure_at) >= MAX_BACKOFF_S * 1000) return null;
  const more = retry.skip_cycles - 1;
  return `backing off after ${retry.failures} failure(s) of ${retry.version}: this cycle is skipped${more > 0 ? `, and ${more} more after it` : ""} (last: ${retry.error})`;
}

/** A cycle skipped `sha` for backoff: one skip fewer to go. */
export function countBackoff(state: State, sha: string): void {
  const retry = state.retries[sha];
  if (retry && retry.skip_cycles > 0) retry.skip_cycles -= 1;
}

/** backoffReason, counting the skip when there is one. */
export function backOff(state: State, sha: string, now: Date): string | null {
  const reason = backoffReason(state, sha, now);
  if (reason !== null) countBackoff(state, sha);
  return reason;
}

/** `clear SHA`: forget the mark and the retry record. Returns whether anything was known. */
export function clearRelease(state: State, sha: string): boolean {
  const known = sha in state.failed_releases || sha in state.retries;
  delete state.failed_releases[sha];
  delete state.retries[sha];
  return known;
}
