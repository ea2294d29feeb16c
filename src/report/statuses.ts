/**
 * A report's status words (SPEC section 6), once: the host builds reports
 * with them (build.ts), counts the outcomes in its metrics (metrics/
 * textfile.ts), and the master checks and counts them (master/
 * report-schema.ts, fleet).
 */

/** The statuses that end a host's try at a release; a skip is one too, for the count. */
export const OUTCOME_STATUSES = [
  "updated",
  "rolled_back",
  "rollback_failed",
  "failed",
  "skipped",
] as const;

/** Of those, the ones that count against the release's failure rate. */
export const FAILURE_STATUSES = ["rolled_back", "rollback_failed", "failed"] as const;

/**
 * Every status: the outcomes, `warning` (nothing was tried; the host has
 * something to say, a certificate about to expire) and `current` (nothing
 * was tried or is wrong: the heartbeat, the active release in `from`, issue 18).
 */
export const REPORT_STATUSES = [...OUTCOME_STATUSES, "warning", "current"] as const;

export type ReportStatus = (typeof REPORT_STATUSES)[number];
