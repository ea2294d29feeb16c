/**
 * The one interface the report store is written against, so the same SQL
 * and the same logic run on SQLite and on PostgreSQL (issue 18). Statements
 * use `?` placeholders; the PostgreSQL side numbers them.
 */
export interface Exec {
  /** Runs a statement; the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface Database {
  readonly kind: "sqlite" | "postgres";
  /** Where it is, for messages (a path, or the URL without its password). */
  readonly where: string;
  /** One transaction: committed (durably) when the promise resolves, rolled back when it rejects. */
  write<T>(work: (tx: Exec) => Promise<T>): Promise<T>;
  /** Reads outside any write transaction. */
  readonly read: Exec;
  /** The plan of a query, one line per step, for `npm run bench`. */
  plan(sql: string, params?: readonly unknown[]): Promise<string[]>;
  close(): Promise<void>;
}
