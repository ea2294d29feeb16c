/**
 * The embedded store: one SQLite file under the receiver's state dir, in
 * WAL mode with synchronous=FULL, so a transaction that returned is on the
 * disk (a SIGKILL or a power cut after the answer loses nothing).
 *
 * better-sqlite3, not libsql: it is plain upstream SQLite with its error
 * codes (SQLITE_FULL for a full disk), and in a trial libsql returned rows
 * with an extra `_metadata` field and threw errors with no code. The cost is
 * a build from source at `npm ci` (about 80 s here), on the master only:
 * it is an optional dependency that a host's release never carries.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { Database, Exec } from "./database.js";

type Driver = typeof BetterSqlite3;

function execOf(db: BetterSqlite3.Database): Exec {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const statement = (sql: string) => {
    let prepared = cache.get(sql);
    if (!prepared) {
      prepared = db.prepare(sql);
      cache.set(sql, prepared);
    }
    return prepared;
  };
  return {
    run: async (sql, params = []) => statement(sql).run(...params).changes,
    get: async <T>(sql: string, params: readonly unknown[] = []) =>
      statement(sql).get(...params) as T | undefined,
    all: async <T>(sql: string, params: readonly unknown[] = []) =>
      statement(sql).all(...params) as T[],
  };
}

/** `readOnly`: the commands that only look (`fleet`, `rollout`); the file must exist. */
export async function openSqlite(path: string, readOnly = false): Promise<Database> {
  const { default: Driver } = (await import("better-sqlite3")) as { default: Driver };
  if (!readOnly) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const writer = new Driver(path, { readonly: readOnly, fileMustExist: readOnly });
  if (!readOnly) {
    writer.pragma("journal_mode = WAL");
    writer.pragma("synchronous = FULL");
  }
  writer.pragma("busy_timeout = 5000");
  // A second connection for reads: `/fleet` never sees a write in progress.
  const reader = readOnly ? writer : new Driver(path, { readonly: true });
  reader.pragma("busy_timeout = 5000");
  const tx = execOf(writer);
  let queue: Promise<unknown> = Promise.resolve();
  return {
    kind: "sqlite",
    where: path,
    read: execOf(reader),
    write<T>(work: (tx: Exec) => Promise<T>): Promise<T> {
      // One write transaction at a time on the one connection.
      const next = queue.then(async () => {
        writer.exec("BEGIN IMMEDIATE");
        try {
          const result = await work(tx);
          writer.exec("COMMIT");
          return result;
        } catch (error) {
          if (writer.inTransaction) writer.exec("ROLLBACK");
          throw error;
        }
      });
      queue = next.catch(() => undefined);
      return next;
    },
    async plan(sql, params = []) {
      const rows = reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{
        detail: string;
      }>;
      return rows.map((row) => row.detail);
    },
    async close() {
      await queue;
      if (reader !== writer) reader.close();
      writer.close();
    },
  };
}
