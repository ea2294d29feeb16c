/**
 * The report store's logic, once for both databases: storing a report
 * exactly once (by id, with its digest to tell a re-send from a conflict),
 * and keeping each host's row and each host's latest attempt at each
 * release up to date in the same transaction, so `fleet` reads small tables.
 */
import { OUTCOME_STATUSES } from "../../report/statuses.js";
import type { ReceivedReport } from "../report-schema.js";
import type { Database, Exec } from "./database.js";

export interface Incoming {
  report: ReceivedReport;
  /** The body as received: what is stored, unknown fields and all. */
  body: string;
  /** sha256 of the body: the same id with other bytes is a conflict. */
  digest: string;
  receivedAt: string;
}

export type InsertOutcome = "stored" | "duplicate" | "conflict";

export interface HostRow {
  host_id: string;
  first_seen: string;
  last_seen: string;
  updater_version: string | null;
  updater_at: string | null;
  release_sha: string | null;
  release_version: string | null;
  release_at: string | null;
  outcome_status: string | null;
  outcome_error: string | null;
  outcome_to_version: string | null;
  outcome_at: string | null;
}

const HOST_COLUMNS = [
  "host_id",
  "first_seen",
  "last_seen",
  "updater_version",
  "updater_at",
  "release_sha",
  "release_version",
  "release_at",
  "outcome_status",
  "outcome_error",
  "outcome_to_version",
  "outcome_at",
] as const;

const UPSERT_HOST = `INSERT INTO hosts (${HOST_COLUMNS.join(", ")}) VALUES (${HOST_COLUMNS.map(() => "?").join(", ")})
  ON CONFLICT (host_id) DO UPDATE SET ${HOST_COLUMNS.slice(1)
    .map((c) => `${c} = excluded.${c}`)
    .join(", ")}`;

const INSERT_REPORT = `INSERT INTO reports (id, host_id, status, component, from_sha, from_version, to_sha, to_version,
  manifest_serial, started_at, finished_at, received_at, error, digest, body)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`;

// A skip ("this release is marked failed here") never hides the failure it follows.
const UPSERT_ATTEMPT = `INSERT INTO attempts (component, to_sha, to_version, host_id, status, finished_at, report_id)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (component, to_sha, host_id) DO UPDATE SET
    to_version = excluded.to_version, status = excluded.status,
    finished_at = excluded.finished_at, report_id = excluded.report_id
  WHERE excluded.finished_at >= attempts.finished_at
    AND (excluded.status <> 'skipped' OR attempts.status = 'skipped')`;

const OUTCOMES = new Set<string>(OUTCOME_STATUSES);

export function componentOf(report: ReceivedReport): "decnet" | "updater" {
  return report.component === "updater" ? "updater" : "decnet";
}

/**
 * The DECNET release a host runs after this report: `undefined` when the
 * report does not say (a warning without `from`), `null` when none or
 * unknown (a first install undone; a rollback that failed).
 */
export function releaseAfter(
  report: ReceivedReport,
): { sha: string; version: string | null } | null | undefined {
  if (componentOf(report) === "updater") return undefined;
  switch (report.status) {
    case "updated":
      return report.to;
    case "rollback_failed":
      return null;
    case "warning":
      return report.from ?? undefined;
    default:
      return report.from;
  }
}

const newer = (at: string | null, than: string) => at === null || than >= at;

/** The host's row with one more report folded in; each facet moves only for a newer report. */
export function mergeHost(row: HostRow | undefined, incoming: Incoming): HostRow {
  const { report, receivedAt } = incoming;
  const at = report.finished_at;
  const next: HostRow = row
    ? { ...row }
    : {
        host_id: report.host_id,
        first_seen: receivedAt,
        last_seen: receivedAt,
        updater_version: null,
        updater_at: null,
        release_sha: null,
        release_version: null,
        release_at: null,
        outcome_status: null,
        outcome_error: null,
        outcome_to_version: null,
        outcome_at: null,
      };
  if (receivedAt > next.last_seen) next.last_seen = receivedAt;
  if (newer(next.updater_at, at)) {
    next.updater_version = report.updater_version;
    next.updater_at = at;
  }
  const release = releaseAfter(report);
  if (release !== undefined && newer(next.release_at, at)) {
    next.release_sha = release?.sha ?? null;
    next.release_version = release?.version ?? null;
    next.release_at = at;
  }
  if (
    componentOf(report) === "decnet" &&
    OUTCOMES.has(report.status) &&
    newer(next.outcome_at, at)
  ) {
    next.outcome_status = report.status;
    next.outcome_error = report.error;
    next.outcome_to_version = report.to?.version ?? report.to?.sha ?? null;
    next.outcome_at = at;
  }
  return next;
}

/**
 * Times as the store orders them: UTC ISO 8601 (so text order is time
 * order: "12:00+09:00" is 03:00Z), and no report finished after it arrived
 * (a host whose clock runs ahead cannot pin its row in the future). The
 * body keeps what the host sent.
 */
export function storedTimes(incoming: Incoming): Incoming {
  const received = Date.parse(incoming.receivedAt);
  const finished = Math.min(Date.parse(incoming.report.finished_at), received);
  const started = Math.min(Date.parse(incoming.report.started_at), finished);
  return {
    ...incoming,
    report: {
      ...incoming.report,
      started_at: new Date(started).toISOString(),
      finished_at: new Date(finished).toISOString(),
    },
  };
}

async function insertOne(tx: Exec, received: Incoming): Promise<InsertOutcome> {
  const incoming = storedTimes(received);
  const { report } = incoming;
  const changed = await tx.run(INSERT_REPORT, [
    report.id,
    report.host_id,
    report.status,
    componentOf(report),
    report.from?.sha ?? null,
    report.from?.version ?? null,
    report.to?.sha ?? null,
    report.to?.version ?? null,
    report.manifest_serial,
    report.started_at,
    report.finished_at,
    incoming.receivedAt,
    report.error,
    incoming.digest,
    incoming.body,
  ]);
  if (changed === 0) {
    const stored = await tx.get<{ digest: string }>("SELECT digest FROM reports WHERE id = ?", [
      report.id,
    ]);
    return stored?.digest === incoming.digest ? "duplicate" : "conflict";
  }
  await tx.run(
    "INSERT INTO report_counts (status, n) VALUES (?, 1) ON CONFLICT (status) DO UPDATE SET n = report_counts.n + 1",
    [report.status],
  );
  const row = await tx.get<HostRow>("SELECT * FROM hosts WHERE host_id = ?", [report.host_id]);
  const merged = mergeHost(row, incoming);
  await tx.run(
    UPSERT_HOST,
    HOST_COLUMNS.map((column) => merged[column]),
  );
  if (report.to && OUTCOMES.has(report.status))
    await tx.run(UPSERT_ATTEMPT, [
      componentOf(report),
      report.to.sha,
      report.to.version,
      report.host_id,
      report.status,
      report.finished_at,
      report.id,
    ]);
  return "stored";
}

/** Stores reports in one transaction; resolves once it committed. */
export function insertReports(db: Database, batch: readonly Incoming[]): Promise<InsertOutcome[]> {
  return db.write(async (tx) => {
    const outcomes: InsertOutcome[] = [];
    for (const incoming of batch) outcomes.push(await insertOne(tx, incoming));
    return outcomes;
  });
}
