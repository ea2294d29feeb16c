/**
 * PostgreSQL for a master that outgrows one file (`store.url =
 * "postgres://..."`): the same statements as SQLite, `?` numbered into
 * `$1..$n`. Each write is one transaction on a pooled connection; commits
 * are durable with PostgreSQL's defaults (synchronous_commit on). A
 * connection the server dropped (a restart) is an error of that request,
 * and the pool reconnects on the next.
 */
import type pg from "pg";
import type { Database, Exec } from "./database.js";
import { redactedUrl } from "./redact.js";

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function execOf(client: pg.Pool | pg.PoolClient): Exec {
  return {
    run: async (sql, params = []) =>
      (await client.query(numbered(sql), params as unknown[])).rowCount ?? 0,
    get: async <T>(sql: string, params: readonly unknown[] = []) =>
      (await client.query(numbered(sql), params as unknown[])).rows[0] as T | undefined,
    all: async <T>(sql: string, params: readonly unknown[] = []) =>
      (await client.query(numbered(sql), params as unknown[])).rows as T[],
  };
}

export async function openPostgres(
  url: string,
  onError: (error: Error) => void,
): Promise<Database> {
  const { default: driver } = (await import("pg")) as { default: typeof pg };
  const pool = new driver.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    query_timeout: 15_000,
  });
  // An idle connection the server closed (a restart) must not take the receiver down.
  pool.on("error", onError);
  return {
    kind: "postgres",
    where: redactedUrl(url),
    read: execOf(pool),
    async write<T>(work: (tx: Exec) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // The pool listens for a checked-out client's errors only while it is idle: a server
      // that goes away mid-transaction would otherwise be an unhandled 'error' event.
      let lost: Error | null = null;
      const onLost = (error: Error) => {
        lost = error;
        onError(error);
      };
      client.on("error", onLost);
      try {
        await client.query("BEGIN");
        const result = await work(execOf(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        if (!lost) await client.query("ROLLBACK").catch((e: Error) => (lost = e));
        throw error;
      } finally {
        client.off("error", onLost);
        // a broken connection is destroyed, not given back to the pool
        client.release(lost ?? undefined);
      }
    },
    async plan(sql, params = []) {
      const rows = (await pool.query(`EXPLAIN ${numbered(sql)}`, params as unknown[]))
        .rows as Array<Record<string, string>>;
      return rows.map((row) => row["QUERY PLAN"] as string);
    },
    close: () => pool.end(),
  };
}
