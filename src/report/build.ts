/**
 * The report of one cycle (SPEC section 6). Built from the cycle's outcome;
 * delivery (outbox, retries) is the outbox's job.
 */
import { randomUUID } from "node:crypto";
import { oneLine } from "../errors.js";

export type ReportStatus =
  | "updated"
  | "rolled_back"
  | "rollback_failed"
  | "failed"
  | "skipped"
  /** Nothing was tried; the host has something to say (a certificate about to expire). */
  | "warning";

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

export function buildReport(
  fields: Omit<Report, "id" | "error"> & { error: unknown; id?: string },
): Report {
  const { error, id, ...rest } = fields;
  return {
    id: id ?? randomUUID(),
    ...rest,
    error: error === null || error === undefined ? null : oneLine(error),
  };
}
