/**
 * The store's schema, versioned. Each migration runs once, in order, in a
 * transaction that also records it in schema_migrations; the text is the
 * same for SQLite and PostgreSQL (TEXT times in ISO 8601 sort as times).
 * Never edit a migration that has shipped: add the next one.
 */
import type { Database } from "./database.js";

export interface Migration {
  version: number;
  statements: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    statements: [
      // Every report as it arrived (body: the JSON text, unknown fields kept).
      `CREATE TABLE reports (
        id TEXT PRIMARY KEY,
        host_id TEXT NOT NULL,
        status TEXT NOT NULL,
        component TEXT NOT NULL,
        from_sha TEXT,
        from_version TEXT,
        to_sha TEXT,
        to_version TEXT,
        manifest_serial BIGINT,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        error TEXT,
        digest TEXT NOT NULL,
        body TEXT NOT NULL
      )`,
      "CREATE INDEX reports_by_host ON reports (host_id, finished_at)",
      // One row per host: what its newest reports say, facet by facet.
      `CREATE TABLE hosts (
        host_id TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        updater_version TEXT,
        updater_at TEXT,
        release_sha TEXT,
        release_version TEXT,
        release_at TEXT,
        outcome_status TEXT,
        outcome_error TEXT,
        outcome_to_version TEXT,
        outcome_at TEXT
      )`,
      "CREATE INDEX hosts_by_last_seen ON hosts (last_seen)",
      "CREATE INDEX hosts_by_outcome ON hosts (outcome_status, outcome_at)",
      "CREATE INDEX hosts_by_release ON hosts (release_sha, release_version)",
      // Each host's latest attempt at each release: the rollout's figures.
      `CREATE TABLE attempts (
        component TEXT NOT NULL,
        to_sha TEXT NOT NULL,
        to_version TEXT,
        host_id TEXT NOT NULL,
        status TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        report_id TEXT NOT NULL,
        PRIMARY KEY (component, to_sha, host_id)
      )`,
      "CREATE INDEX attempts_by_release ON attempts (component, to_sha, to_version, status)",
      // Reports per status, counted as they are stored: /metrics reads one small table.
      "CREATE TABLE report_counts (status TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the store to SCHEMA_VERSION; refuses a store from a newer receiver
 * (its tables mean things this one does not know). The caller holds the
 * database's migration lock (SQLite: the write transaction; PostgreSQL: an
 * advisory lock), so two receivers starting at once migrate once.
 */
export async function migrate(db: Database, lock: string | null): Promise<number> {
  return db.write(async (tx) => {
    if (lock) await tx.run(lock);
    await tx.run(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    );
    const row = await tx.get<{ v: number | string | null }>(
      "SELECT max(version) AS v FROM schema_migrations",
    );
    const at = Number(row?.v ?? 0);
    if (at > SCHEMA_VERSION)
      throw new Error(
        `store ${db.where} has schema version ${at}, this receiver knows up to ${SCHEMA_VERSION}: run the newer receiver, or restore a backup`,
      );
    for (const migration of MIGRATIONS.filter((m) => m.version > at)) {
      for (const statement of migration.statements) await tx.run(statement);
      await tx.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", [
        migration.version,
        new Date().toISOString(),
      ]);
    }
    return SCHEMA_VERSION;
  });
}
