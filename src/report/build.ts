/**
 * The report of one cycle (SPEC section 6). Built from the cycle's outcome;
 * delivery (outbox, retries) is the outbox's job.
 */
import { randomUUID } from "node:crypto";
import { oneLine } from "../errors.js";
import { UPDATER_VERSION } from "../version.js";
import type { ReportStatus } from "./statuses.js";

export type { ReportStatus } from "./statuses.js";

export interface ReleaseRef {
  sha: string;
  version: string | null;
}

export interface Report {
  id: string;
  host_id: string;
  updater_version: string;
  status: ReportStatus;
  from: ReleaseRef | null;
  to: ReleaseRef | null;
  manifest_serial: number | null;
  started_at: string;
  finished_at: string;
  steps: Array<{ name: string; ms: number; ok: boolean }>;
  error: string | null;
  stderr: string | null;
  manual?: boolean;
  /** "updater" for the updater's own releases (SPEC section 12); absent: the DECNET agent. */
  component?: "updater";
  /** Problems that do not stop this cycle but will stop a later one (preflight, issue 9). */
  warnings?: string[];
}

/** What a cycle ended with, as every kind of cycle gives it: an update, a recovery, a manual rollback, the updater's own. */
export type Outcome = Omit<Report, "id" | "error" | "host_id" | "updater_version" | "stderr"> & {
  /** Fixed when the cycle started, so a cycle settled by recovery reports under the same id. */
  id?: string;
  error: unknown;
  stderr?: string | null;
};

/**
 * The longest error or warning line a report carries, in characters: the
 * receiver refuses a longer one for good (docs/protocol.md section 4), and
 * the host would then set the whole report aside, so it is cut here.
 */
export const REPORT_LINE_MAX = 16 * 1024;

const capped = (line: string) => line.slice(0, REPORT_LINE_MAX);

/** The one way a report is made from an outcome: the host's identity and this updater's version added, the error on one line. */
export function reportOf(host: { host_id: string }, outcome: Outcome): Report {
  const { error, id, stderr, warnings, ...rest } = outcome;
  return {
    id: id ?? randomUUID(),
    host_id: host.host_id,
    updater_version: UPDATER_VERSION,
    ...rest,
    ...(warnings ? { warnings: warnings.map(capped) } : {}),
    error: error === null || error === undefined ? null : capped(oneLine(error)),
    stderr: stderr ?? null,
  };
}

/** The report of a cycle that tried nothing (a heartbeat, warnings of their own): no target, no steps, no error. */
export function nothingTriedReport(
  host: { host_id: string },
  status: "warning" | "current",
  from: ReleaseRef | null,
  manifestSerial: number | null,
  at: Date,
): Report {
  const time = at.toISOString();
  return reportOf(host, {
    status,
    from,
    to: null,
    manifest_serial: manifestSerial,
    started_at: time,
    finished_at: time,
    steps: [],
    error: null,
    stderr: null,
  });
}
