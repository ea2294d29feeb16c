/**
 * Group commit: the reports that arrive while one transaction commits go
 * into the next one, so a burst costs one fsync per batch, not per report,
 * and every answer still waits for the commit of its own report.
 *
 * A batch that the database refuses for one row's sake (a constraint, a
 * value it cannot hold) is tried again report by report, so that report
 * fails alone; any other failure (a full disk, a database that is down)
 * fails the whole batch at once, and each sender gets its 503 and keeps its
 * report. At most MAX_WAITING reports wait: beyond that a sender is told to
 * come back later at once, instead of queueing behind a store that is down.
 */
import type { Database } from "./database.js";
import { type Incoming, type InsertOutcome, insertReports } from "./reports.js";

interface Waiting {
  incoming: Incoming;
  resolve: (outcome: InsertOutcome) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 256;
export const MAX_WAITING = 10_000;

/** SQLite's and PostgreSQL's codes for "this row", as against "this database". */
export function isRowError(error: unknown): boolean {
  const code = String((error as { code?: unknown })?.code ?? "");
  return (
    /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code) ||
    // PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity constraint)
    /^2[23][0-9A-Z]{3}$/.test(code)
  );
}

export class StoreBehind extends Error {
  constructor() {
    super(`${MAX_WAITING} reports are already waiting for the store`);
  }
}

export class GroupCommit {
  private waiting: Waiting[] = [];
  private running = false;
  private scheduled = false;

  constructor(private readonly db: Database) {}

  submit(incoming: Incoming): Promise<InsertOutcome> {
    if (this.waiting.length >= MAX_WAITING) return Promise.reject(new StoreBehind());
    return new Promise((resolve, reject) => {
      this.waiting.push({ incoming, resolve, reject });
      // one drain per turn of the event loop, however many reports arrived in it
      if (!this.running && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.drain();
        });
      }
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, MAX_BATCH);
        await this.commit(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(batch: Waiting[]): Promise<void> {
    try {
      const outcomes = await insertReports(
        this.db,
        batch.map((w) => w.incoming),
      );
      for (const [i, w] of batch.entries()) w.resolve(outcomes[i] as InsertOutcome);
    } catch (error) {
      if (batch.length === 1 || !isRowError(error)) {
        for (const w of batch) w.reject(error);
        return;
      }
      for (const one of batch) await this.commit([one]);
    }
  }
}
