/** Reports as hosts send them (report/build.ts's shape), for the master's tests. */
import { randomUUID } from "node:crypto";

export const SHA_A = "a".repeat(40);
export const SHA_B = "b".repeat(40);
export const SHA_C = "c".repeat(40);

export interface ReportFields {
  id?: string;
  host_id?: string;
  status?: string;
  from?: { sha: string; version: string | null } | null;
  to?: { sha: string; version: string | null } | null;
  finished_at?: string;
  error?: string | null;
  component?: "updater";
  [extra: string]: unknown;
}

export function hostReport(fields: ReportFields = {}): Record<string, unknown> {
  const finished = fields.finished_at ?? new Date().toISOString();
  return {
    id: randomUUID(),
    host_id: "host-1",
    updater_version: "0.1.0",
    status: "updated",
    from: { sha: SHA_A, version: "1.0.0" },
    to: { sha: SHA_B, version: "1.1.0" },
    manifest_serial: 7,
    started_at: finished,
    finished_at: finished,
    steps: [
      { name: "fetch", ms: 12, ok: true },
      { name: "probe", ms: 300, ok: true },
    ],
    error: null,
    stderr: null,
    ...fields,
  };
}
