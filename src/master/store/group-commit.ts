/**
 * Group commit: the reports that arrive while one transaction commits go
 * into the next one, so a burst costs one fsync per batch, not per report,
 * and every answer still waits for the commit of its own report.
 *
 * A batch that fails is tried again report by report, so one report the
 * database refuses fails alone; a full disk or a database that is down
 * fails them all, and each sender gets its 503 and keeps its report.
 */
import type { Database } from "./database.js";
import { type Incoming, type InsertOutcome, insertReports } from "./reports.js";

interface Waiting {
  incoming: Incoming;
  resolve: (outcome: InsertOutcome) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 256;

export class GroupCommit {
  private waiting: Waiting[] = [];
  private running = false;

  constructor(private readonly db: Database) {}

  submit(incoming: Incoming): Promise<InsertOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ incoming, resolve, reject });
      if (!this.running) setImmediate(() => void this.drain());
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
      if (batch.length === 1) {
        (batch[0] as Waiting).reject(error);
        return;
      }
      for (const one of batch) await this.commit([one]);
    }
  }
}
