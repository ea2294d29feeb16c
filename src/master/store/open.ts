/**
 * Opens the store the receiver's config names: SQLite in the state dir by
 * default, PostgreSQL for a `postgres://` URL. Failures are E_STORE, with
 * where the store is.
 */
import { join } from "node:path";
import { oneLine, UpdaterError } from "../../errors.js";
import type { Database } from "./database.js";
import { migrate } from "./migrations.js";
import { redactedUrl } from "./redact.js";

export interface StoreLocation {
  /** `postgres://...` or `postgresql://...`; absent: SQLite at `sqlitePath`. */
  url?: string | undefined;
  sqlitePath: string;
}

export function sqlitePathIn(stateDir: string): string {
  return join(stateDir, "reports.sqlite");
}

function storeError(where: string, error: unknown): UpdaterError {
  return new UpdaterError("E_STORE", `store ${where}: ${oneLine(error)}`, { cause: error });
}

async function driverMissing(name: string, error: unknown): Promise<never> {
  if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND")
    throw new UpdaterError(
      "E_STORE",
      `the master's database driver ${name} is not installed: run \`npm ci\` in a checkout on the master (a host's release does not carry it)`,
    );
  throw error;
}

/**
 * `purpose`: "receive" migrates (and creates the SQLite file); "read" opens
 * what is there and refuses a store that is missing or not migrated.
 */
export async function openStore(
  location: StoreLocation,
  purpose: "receive" | "read",
  onError: (error: Error) => void = () => {},
): Promise<Database> {
  const postgres = location.url !== undefined && /^postgres(ql)?:\/\//.test(location.url);
  const where = postgres ? redactedUrl(location.url as string) : location.sqlitePath;
  let db: Database;
  try {
    if (postgres) {
      const { openPostgres } = await import("./postgres.js").catch((e) => driverMissing("pg", e));
      db = await openPostgres(location.url as string, onError);
    } else {
      const { openSqlite } = await import("./sqlite.js");
      db = await openSqlite(location.sqlitePath, purpose === "read").catch((e) =>
        driverMissing("better-sqlite3", e),
      );
    }
  } catch (error) {
    if (error instanceof UpdaterError) throw error;
    throw storeError(where, error);
  }
  try {
    if (purpose === "receive")
      await migrate(db, postgres ? "SELECT pg_advisory_xact_lock(7468237)" : null);
    else await db.read.get("SELECT 1 FROM hosts LIMIT 1");
  } catch (error) {
    await db.close().catch(() => {});
    throw storeError(db.where, error);
  }
  return db;
}
