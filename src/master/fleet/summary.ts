/**
 * What `fleet`, `GET /fleet`, `GET /metrics` and `rollout` know about the
 * fleet: one function per question, read from the store, so the four say
 * the same figures.
 */
import semver from "semver";
import { FAILURE_STATUSES, OUTCOME_STATUSES } from "../../report/statuses.js";
import type { Database } from "../store/database.js";

export interface ReleaseFigures {
  component: "decnet" | "updater";
  sha: string;
  version: string | null;
  /** Hosts whose newest report says they run it (DECNET's releases only). */
  hosts_on: number;
  updated: number;
  rolled_back: number;
  rollback_failed: number;
  failed: number;
  skipped: number;
  /** Hosts that tried it: updated, rolled back, rollback failed, failed. */
  attempts: number;
  /** (attempts - updated) / attempts; null before the first attempt. */
  failure_rate: number | null;
}

export interface StaleHost {
  host_id: string;
  last_seen: string;
  release_version: string | null;
}

export interface FailingHost {
  host_id: string;
  status: string;
  to_version: string | null;
  error: string | null;
  at: string;
}

export interface FleetSummary {
  generated_at: string;
  stale_after_s: number;
  hosts: number;
  releases: ReleaseFigures[];
  stale: { count: number; hosts: StaleHost[] };
  failing: { count: number; hosts: FailingHost[] };
  reports: Record<string, number>;
}

const LIST_LIMIT = 50;

function emptyFigures(
  component: ReleaseFigures["component"],
  sha: string,
  version: string | null,
): ReleaseFigures {
  return {
    component,
    sha,
    version,
    hosts_on: 0,
    updated: 0,
    rolled_back: 0,
    rollback_failed: 0,
    failed: 0,
    skipped: 0,
    attempts: 0,
    failure_rate: null,
  };
}

function settle(figures: ReleaseFigures): ReleaseFigures {
  const failures = FAILURE_STATUSES.reduce((sum, status) => sum + figures[status], 0);
  figures.attempts = figures.updated + failures;
  figures.failure_rate = figures.attempts === 0 ? null : failures / figures.attempts;
  return figures;
}

export const ATTEMPTS_BY_RELEASE =
  "SELECT component, to_sha, to_version, status, count(*) AS n FROM attempts GROUP BY component, to_sha, to_version, status";
export const HOSTS_BY_RELEASE =
  "SELECT release_sha, release_version, count(*) AS n FROM hosts GROUP BY release_sha, release_version";
export const STALE_HOSTS =
  "SELECT host_id, last_seen, release_version FROM hosts WHERE last_seen < ? ORDER BY last_seen LIMIT ?";
/** The failure statuses as an SQL list: fixed words of report/statuses.ts, never a host's text. */
const FAILURE_IN = `(${FAILURE_STATUSES.map((status) => `'${status}'`).join(", ")})`;
export const FAILING_HOSTS = `SELECT host_id, outcome_status AS status, outcome_to_version AS to_version, outcome_error AS error, outcome_at AS at
  FROM hosts WHERE outcome_status IN ${FAILURE_IN} ORDER BY outcome_at DESC LIMIT ?`;

function byVersion(a: ReleaseFigures, b: ReleaseFigures): number {
  if (a.component !== b.component) return a.component === "decnet" ? -1 : 1;
  const [va, vb] = [semver.valid(a.version ?? ""), semver.valid(b.version ?? "")];
  if (va && vb) return semver.rcompare(va, vb);
  if (va || vb) return va ? -1 : 1;
  return a.sha.localeCompare(b.sha);
}

/** One GROUP BY row of attempts into a release's figures: the fleet's and the gate's one count. */
function addOutcome(figures: ReleaseFigures, status: string, n: number | string): void {
  const key = OUTCOME_STATUSES.find((k) => k === status);
  if (key) figures[key] += Number(n);
}

export async function releaseFigures(db: Database): Promise<ReleaseFigures[]> {
  const byKey = new Map<string, ReleaseFigures>();
  const entry = (component: ReleaseFigures["component"], sha: string, version: string | null) => {
    const key = `${component} ${sha}`;
    let figures = byKey.get(key);
    if (!figures) {
      figures = emptyFigures(component, sha, version);
      byKey.set(key, figures);
    }
    if (figures.version === null && version !== null) figures.version = version;
    return figures;
  };
  type AttemptRow = {
    component: string;
    to_sha: string;
    to_version: string | null;
    status: string;
    n: number | string;
  };
  for (const row of await db.read.all<AttemptRow>(ATTEMPTS_BY_RELEASE)) {
    const figures = entry(
      row.component === "updater" ? "updater" : "decnet",
      row.to_sha,
      row.to_version,
    );
    addOutcome(figures, row.status, row.n);
  }
  type OnRow = { release_sha: string | null; release_version: string | null; n: number | string };
  for (const row of await db.read.all<OnRow>(HOSTS_BY_RELEASE))
    if (row.release_sha !== null)
      entry("decnet", row.release_sha, row.release_version).hosts_on += Number(row.n);
  return [...byKey.values()].map(settle).sort(byVersion);
}

/** One release's figures (`rollout`'s gate), by sha: zeros when no host reported on it. */
export async function figuresOf(
  db: Database,
  sha: string,
  version: string,
): Promise<ReleaseFigures> {
  const figures = emptyFigures("decnet", sha, version);
  const rows = await db.read.all<{ status: string; n: number | string }>(
    "SELECT status, count(*) AS n FROM attempts WHERE component = 'decnet' AND to_sha = ? GROUP BY status",
    [sha],
  );
  for (const row of rows) addOutcome(figures, row.status, row.n);
  return settle(figures);
}

export async function fleetSummary(
  db: Database,
  now: Date,
  staleAfterS: number,
): Promise<FleetSummary> {
  const staleBefore = new Date(now.getTime() - staleAfterS * 1000).toISOString();
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await db.read.get<{ n: number | string }>(sql, params))?.n ?? 0);
  const reports: Record<string, number> = {};
  for (const row of await db.read.all<{ status: string; n: number | string }>(
    "SELECT status, n FROM report_counts ORDER BY status",
  ))
    reports[row.status] = Number(row.n);
  return {
    generated_at: now.toISOString(),
    stale_after_s: staleAfterS,
    hosts: await count("SELECT count(*) AS n FROM hosts"),
    releases: await releaseFigures(db),
    stale: {
      count: await count("SELECT count(*) AS n FROM hosts WHERE last_seen < ?", [staleBefore]),
      hosts: await db.read.all<StaleHost>(STALE_HOSTS, [staleBefore, LIST_LIMIT]),
    },
    failing: {
      count: await count(`SELECT count(*) AS n FROM hosts WHERE outcome_status IN ${FAILURE_IN}`),
      hosts: await db.read.all<FailingHost>(FAILING_HOSTS, [LIST_LIMIT]),
    },
    reports,
  };
}

export interface HostReport {
  id: string;
  status: string;
  from_version: string | null;
  to_version: string | null;
  finished_at: string;
  received_at: string;
  error: string | null;
  steps: Array<{ name: string; ms: number; ok: boolean }>;
}

/** `fleet --host H`: its newest reports first, with their steps. */
export async function hostReports(db: Database, hostId: string, limit = 20): Promise<HostReport[]> {
  const rows = await db.read.all<Omit<HostReport, "steps"> & { body: string }>(
    "SELECT id, status, from_version, to_version, finished_at, received_at, error, body FROM reports WHERE host_id = ? ORDER BY finished_at DESC LIMIT ?",
    [hostId, limit],
  );
  return rows.map(({ body, ...row }) => {
    const steps = (JSON.parse(body) as { steps?: HostReport["steps"] }).steps ?? [];
    return { ...row, steps };
  });
}
