/**
 * Reports are never lost: each is written to state_dir/outbox/<id>.json
 * (atomically) before any attempt to send it, and removed only when the
 * master answered 2xx or 409 (already have it). Undelivered reports are sent
 * again, oldest first, at the start of every later cycle; the id lets the
 * master drop a duplicate if an answer was lost after it stored one.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { oneLine } from "../errors.js";
import { writeFileAtomic } from "../fs/atomic.js";
import { deadline } from "../http/deadline.js";
import { classifyNetworkError } from "../http/errors.js";
import type { HttpClient } from "../http/tls.js";
import type { Logger } from "../log.js";
import type { Report } from "./build.js";

export async function writeToOutbox(outboxDir: string, report: Report): Promise<string> {
  const path = join(outboxDir, `${report.id}.json`);
  await writeFileAtomic(path, `${JSON.stringify(report)}\n`, 0o600);
  return path;
}

export interface Pending {
  path: string;
  report: Report;
}

/** Whether the outbox holds anything to send: names only, nothing read or parsed. */
export async function hasPendingReports(outboxDir: string): Promise<boolean> {
  return (await readdir(outboxDir).catch(() => [] as string[])).some((n) => n.endsWith(".json"));
}

/** Every readable report in the outbox, oldest first. An unreadable file is left for an operator. */
export async function pendingReports(outboxDir: string): Promise<Pending[]> {
  const names = (await readdir(outboxDir).catch(() => [] as string[])).filter((n) =>
    n.endsWith(".json"),
  );
  const pending: Pending[] = [];
  for (const name of names) {
    const path = join(outboxDir, name);
    try {
      pending.push({ path, report: JSON.parse(await readFile(path, "utf8")) as Report });
    } catch {
      // a torn or foreign file: never sent, never deleted by us
    }
  }
  return pending.sort(
    (a, b) =>
      a.report.finished_at.localeCompare(b.report.finished_at) ||
      a.report.id.localeCompare(b.report.id),
  );
}

export interface FlushOptions {
  client: HttpClient;
  url: string;
  outboxDir: string;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
  /** Tries per report within this cycle, with doubling waits between them. */
  attempts?: number;
  backoffMs?: number;
  deadlineMs?: number;
}

/** POSTs one report; true when the master has it (2xx, or 409 for a duplicate id). */
async function deliver(report: Report, options: FlushOptions): Promise<string | null> {
  const timer = deadline(options.deadlineMs ?? 15_000);
  try {
    const response = await request(options.url, {
      dispatcher: options.client.dispatcher,
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": report.id },
      body: JSON.stringify(report),
      signal: timer.signal,
    });
    await response.body.dump();
    const ok =
      (response.statusCode >= 200 && response.statusCode < 300) || response.statusCode === 409;
    return ok ? null : `HTTP ${response.statusCode}`;
  } catch (error) {
    return oneLine(classifyNetworkError(error, "report", options.url));
  } finally {
    timer.clear();
  }
}

/**
 * Sends pending reports oldest first. Stops at the first one the master will
 * not take after the retries, so order is kept; the rest wait for the next cycle.
 */
export async function flushOutbox(
  options: FlushOptions,
): Promise<{ sent: number; pending: number }> {
  const pending = await pendingReports(options.outboxDir);
  const attempts = options.attempts ?? 3;
  let sent = 0;
  for (const item of pending) {
    let problem: string | null = null;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      problem = await deliver(item.report, options);
      if (problem === null) break;
      if (attempt < attempts) await options.sleep((options.backoffMs ?? 500) * 2 ** (attempt - 1));
    }
    if (problem !== null) {
      options.log.warn(
        { report_id: item.report.id, pending: pending.length - sent },
        `Report not delivered (${problem}); kept in the outbox.`,
      );
      break;
    }
    await rm(item.path, { force: true });
    sent++;
  }
  return { sent, pending: pending.length - sent };
}
