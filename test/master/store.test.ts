/**
 * The report store, one suite run against both databases (issue 18): the
 * embedded SQLite file and a real PostgreSQL 15 started for the test.
 * Stored exactly once by id, a re-send told from a conflict, each host's
 * row and each host's latest attempt kept in the same transaction.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { figuresOf, fleetSummary, hostReports } from "../../src/master/fleet/summary.js";
import { checkReport } from "../../src/master/report-schema.js";
import type { Database } from "../../src/master/store/database.js";
import { MIGRATIONS } from "../../src/master/store/migrations.js";
import { openStore } from "../../src/master/store/open.js";
import { type Incoming, insertReports } from "../../src/master/store/reports.js";
import { POSTGRES_SKIP, type RunningPostgres, startPostgres } from "../helpers/postgres.js";
import { hostReport, SHA_B, SHA_C } from "../helpers/reports.js";
import { tempDir } from "../helpers/tmp.js";

function incoming(
  fields: Record<string, unknown>,
  receivedAt = new Date().toISOString(),
): Incoming {
  const body = JSON.stringify(hostReport(fields));
  const checked = checkReport(JSON.parse(body));
  assert.ok(checked.ok, checked.ok ? "" : checked.why);
  return {
    report: checked.report,
    body,
    digest: createHash("sha256").update(body).digest("hex"),
    receivedAt,
  };
}

async function count(db: Database, table: string): Promise<number> {
  return Number(
    (await db.read.get<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`))?.n,
  );
}

function suite(kind: "sqlite" | "postgres", skip: string | false) {
  describe(`the report store on ${kind}`, { skip }, () => {
    let db: Database;
    let pg: RunningPostgres | undefined;
    let n = 0;
    /** Where the last fresh store is, to open it again. */
    let location: { url?: string; sqlitePath: string } = { sqlitePath: "" };
    const fresh = async (t: { after: (fn: () => Promise<void>) => void }) => {
      const dir = await tempDir(t, "du-store-");
      if (kind === "postgres") {
        // one server for the suite, a database per test
        const name = `t${++n}`;
        const { default: pgLib } = await import("pg");
        const admin = new pgLib.Client({ connectionString: (pg as RunningPostgres).url });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${name}`);
        await admin.end();
        location = {
          url: (pg as RunningPostgres).url.replace(/\/reports$/, `/${name}`),
          sqlitePath: "",
        };
        return openStore(location, "receive");
      }
      location = { sqlitePath: join(dir, "reports.sqlite") };
      return openStore(location, "receive");
    };
    before(async () => {
      if (kind === "postgres") pg = await startPostgres();
    });
    after(() => pg?.stop());

    test("a report is stored once; the same bytes again are a duplicate, other bytes a conflict", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const first = incoming({ host_id: "h1" });
      assert.deepEqual(await insertReports(db, [first]), ["stored"]);
      assert.deepEqual(await insertReports(db, [first]), ["duplicate"]);
      const other = {
        ...incoming({ id: first.report.id, host_id: "h1", status: "failed", error: "boom" }),
      };
      assert.deepEqual(await insertReports(db, [other]), ["conflict"]);
      const stored = await db.read.all<{ status: string; body: string }>(
        "SELECT status, body FROM reports",
      );
      assert.deepEqual(stored, [{ status: "updated", body: first.body }]);
      assert.equal(await count(db, "attempts"), 1);
      const counts = await db.read.all<{ status: string; n: number | string }>(
        "SELECT status, n FROM report_counts",
      );
      assert.deepEqual(
        counts.map((r) => [r.status, Number(r.n)]),
        [["updated", 1]],
      );
    });

    test("unknown fields are kept in the stored body", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const report = incoming({ future_field: { nested: [1, 2] } });
      await insertReports(db, [report]);
      const row = await db.read.get<{ body: string }>("SELECT body FROM reports");
      assert.deepEqual(JSON.parse(row?.body as string).future_field, { nested: [1, 2] });
    });

    test("each host's row follows its newest report, facet by facet, whatever the arrival order", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const t0 = "2026-12-01T10:00:00.000Z";
      const t1 = "2026-12-01T11:00:00.000Z";
      const t2 = "2026-12-01T12:00:00.000Z";
      // newest first: the update to B at t1, then an older failure, then a heartbeat
      await insertReports(db, [
        incoming({ host_id: "h1", finished_at: t1, status: "updated" }, t2),
        incoming(
          {
            host_id: "h1",
            finished_at: t0,
            status: "failed",
            error: "old",
            to: { sha: SHA_C, version: "0.9.0" },
          },
          t2,
        ),
        incoming(
          {
            host_id: "h1",
            finished_at: t2,
            status: "current",
            from: { sha: SHA_B, version: "1.1.0" },
            to: null,
          },
          t2,
        ),
      ]);
      const host = await db.read.get<Record<string, string | null>>(
        "SELECT * FROM hosts WHERE host_id = 'h1'",
      );
      assert.equal(host?.release_sha, SHA_B);
      assert.equal(host?.release_version, "1.1.0");
      assert.equal(
        host?.outcome_status,
        "updated",
        "the older failure does not hide the newer update",
      );
      assert.equal(host?.outcome_at, t1, "a heartbeat is not an outcome");
      assert.equal(host?.release_at, t2);
      // a rollback that failed leaves the host's release unknown
      await insertReports(db, [
        incoming({
          host_id: "h1",
          finished_at: "2026-12-01T13:00:00.000Z",
          status: "rollback_failed",
          to: { sha: SHA_C, version: "1.2.0" },
          error: "both broken",
        }),
      ]);
      const after = await db.read.get<Record<string, string | null>>(
        "SELECT * FROM hosts WHERE host_id = 'h1'",
      );
      assert.equal(after?.release_sha, null);
      assert.equal(after?.outcome_error, "both broken");
    });

    test("per release: hosts on it, outcomes and the failure rate; a skip never hides the failure it follows", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const to = { sha: SHA_C, version: "1.2.0" };
      const at = (m: number) => new Date(Date.UTC(2026, 11, 1, 10, m)).toISOString();
      await insertReports(db, [
        incoming({ host_id: "h1", to, status: "updated", finished_at: at(1) }),
        incoming({ host_id: "h2", to, status: "updated", finished_at: at(1) }),
        incoming({
          host_id: "h3",
          to,
          status: "rolled_back",
          error: "probe failed",
          finished_at: at(1),
        }),
        incoming({ host_id: "h3", to, status: "skipped", finished_at: at(5) }),
        incoming({ host_id: "h4", to, status: "failed", error: "pip", finished_at: at(1) }),
        incoming({
          host_id: "h5",
          to: { sha: SHA_B, version: "1.1.0" },
          status: "updated",
          finished_at: at(1),
        }),
      ]);
      const figures = await figuresOf(db, SHA_C, "1.2.0");
      assert.deepEqual(
        { ...figures },
        {
          component: "decnet",
          sha: SHA_C,
          version: "1.2.0",
          hosts_on: 0,
          updated: 2,
          rolled_back: 1,
          rollback_failed: 0,
          failed: 1,
          skipped: 0,
          attempts: 4,
          failure_rate: 0.5,
        },
      );
      const summary = await fleetSummary(db, new Date(), 86400);
      assert.equal(summary.hosts, 5);
      const c = summary.releases.find((r) => r.sha === SHA_C);
      assert.equal(c?.hosts_on, 2);
      assert.equal(c?.failure_rate, 0.5);
      assert.deepEqual(
        summary.releases.map((r) => r.version),
        ["1.2.0", "1.1.0", "1.0.0"],
      );
      assert.deepEqual(summary.failing.hosts.map((h) => [h.host_id, h.status]).sort(), [
        ["h4", "failed"],
      ]);
      assert.equal(summary.failing.count, 1, "h3's newest outcome is its skip");
      assert.deepEqual(summary.reports, { failed: 1, rolled_back: 1, skipped: 1, updated: 3 });
    });

    test("stale hosts: not heard from for the stale time, by the master's clock", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const now = new Date("2026-12-02T12:00:00.000Z");
      await insertReports(db, [
        incoming({ host_id: "old", status: "current", to: null }, "2026-11-30T12:00:00.000Z"),
        incoming({ host_id: "new", status: "current", to: null }, "2026-12-02T11:00:00.000Z"),
      ]);
      const summary = await fleetSummary(db, now, 86400);
      assert.equal(summary.stale.count, 1);
      assert.deepEqual(
        summary.stale.hosts.map((h) => h.host_id),
        ["old"],
      );
      assert.equal((await fleetSummary(db, now, 3 * 86400)).stale.count, 0);
    });

    test("a host's clock cannot pin its row: times are UTC and no later than their arrival", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const to = { sha: SHA_C, version: "1.2.0" };
      const arrived = "2026-12-01T10:00:00.000Z";
      // a clock years ahead, then the genuine update an hour later
      await insertReports(db, [
        incoming(
          {
            host_id: "h1",
            to,
            status: "failed",
            error: "x",
            finished_at: "2999-01-01T00:00:00.000Z",
          },
          arrived,
        ),
      ]);
      await insertReports(db, [
        incoming(
          { host_id: "h1", to, status: "updated", finished_at: "2026-12-01T11:00:00.000Z" },
          "2026-12-01T11:00:01.000Z",
        ),
      ]);
      const host = await db.read.get<Record<string, string | null>>(
        "SELECT * FROM hosts WHERE host_id = 'h1'",
      );
      assert.equal(host?.outcome_status, "updated");
      assert.equal((await figuresOf(db, SHA_C, "1.2.0")).failure_rate, 0);
      // an offset is not a later time: 12:00+09:00 is 03:00Z, older than 05:00Z
      await insertReports(db, [
        incoming(
          { host_id: "h2", status: "rolled_back", finished_at: "2026-12-01T05:00:00.000Z" },
          "2026-12-01T06:00:00.000Z",
        ),
      ]);
      await insertReports(db, [
        incoming(
          { host_id: "h2", status: "updated", finished_at: "2026-12-01T12:00:00+09:00" },
          "2026-12-01T06:00:00.000Z",
        ),
      ]);
      const h2 = await db.read.get<Record<string, string | null>>(
        "SELECT * FROM hosts WHERE host_id = 'h2'",
      );
      assert.equal(h2?.outcome_status, "rolled_back");
      assert.equal(h2?.outcome_at, "2026-12-01T05:00:00.000Z");
    });

    test("fleet --host: a host's newest reports first, with their steps", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      await insertReports(db, [
        incoming({ host_id: "h1", finished_at: "2026-12-01T10:00:00.000Z" }),
        incoming({
          host_id: "h1",
          finished_at: "2026-12-01T11:00:00.000Z",
          status: "rolled_back",
          error: "probe",
        }),
        incoming({ host_id: "h2" }),
      ]);
      const reports = await hostReports(db, "h1");
      assert.deepEqual(
        reports.map((r) => r.status),
        ["rolled_back", "updated"],
      );
      assert.deepEqual(
        reports[0]?.steps.map((s) => s.name),
        ["fetch", "probe"],
      );
    });

    test("migrations run once and are recorded; a store from a newer receiver is refused", async (t) => {
      db = await fresh(t);
      const rows = await db.read.all<{ version: number | string }>(
        "SELECT version FROM schema_migrations",
      );
      assert.deepEqual(
        rows.map((r) => Number(r.version)),
        MIGRATIONS.map((m) => m.version),
      );
      await db.write((tx) =>
        tx.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", [99, "x"]),
      );
      const where = db.where;
      await db.close();
      await assert.rejects(openStore(location, "receive"), {
        code: "E_STORE",
        message: `store ${where}: store ${where} has schema version 99, this receiver knows up to ${MIGRATIONS.length}: run the newer receiver, or restore a backup`,
      });
    });

    test("one report the database refuses fails alone; the others of its transaction are not stored with it", async (t) => {
      db = await fresh(t);
      t.after(() => db.close());
      const good = incoming({ host_id: "h1" });
      const bad = incoming({ host_id: "h2" });
      // A NOT NULL column given null: the database, not the schema check, refuses it.
      (bad.report as { finished_at: unknown }).finished_at = null;
      await assert.rejects(insertReports(db, [good, bad]));
      assert.equal(await count(db, "reports"), 0, "the transaction rolled back as a whole");
      assert.equal(await count(db, "hosts"), 0);
    });
  });
}

suite("sqlite", false);
suite("postgres", POSTGRES_SKIP);

test("a SQLite store is WAL with synchronous=FULL", async (t) => {
  const dir = await tempDir(t, "du-store-");
  const db = await openStore({ sqlitePath: join(dir, "r.sqlite") }, "receive");
  t.after(() => db.close());
  const { default: Driver } = await import("better-sqlite3");
  const raw = new Driver(join(dir, "r.sqlite"), { readonly: true });
  t.after(() => raw.close());
  assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
  // synchronous is per connection: read it through the store's own writer
  assert.equal(
    (await db.write((tx) => tx.get<{ synchronous: number }>("PRAGMA synchronous")))?.synchronous,
    2,
  );
});

test("the read-only open refuses a store that is not there, naming it", async (t) => {
  const dir = await tempDir(t, "du-store-");
  const path = join(dir, "missing.sqlite");
  await assert.rejects(
    openStore({ sqlitePath: path }, "read"),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, "E_STORE");
      assert.match(error.message, new RegExp(`^store ${path}: `));
      return true;
    },
  );
});
