/**
 * Reports are never lost: each is written to state_dir/outbox/<id>.json
 * (atomically) before any attempt to send it, and removed only when the
 * master answered 2xx or 409 (already have it). Undelivered reports are sent
 * again, oldest first, at the start of every later cycle; the id lets the
 * master drop a duplicate if an answer was lost after it stored one.
 *
 * A file in the outbox that is not a report (torn, foreign, or planted) is
 * moved aside to outbox/rejected/ with one warning when a cycle sends: it is
 * never sent, never deleted, and never stops the cycle. So is a report the
 * receiver refused for good (400 or 413 with its "report refused:" line):
 * sending it again would only block the reports after it.
 */
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { oneLine } from "../errors.js";
import { writeFileAtomic } from "../fs/atomic.js";
import { deadline } from "../http/deadline.js";
import { classifyNetworkError } from "../http/errors.js";
import { bodyPrefix } from "../http/get.js";
import type { HttpClient } from "../http/tls.js";
import { request } from "../http/undici.js";
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

/** Where files that are not reports go (kept for an operator, never sent). */
export function rejectedDir(outboxDir: string): string {
  return join(outboxDir, "rejected");
}

/** Why `doc` (the file `name`) is not a report this agent wrote, or null. */
function notAReport(doc: unknown, name: string): string | null {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return "not a JSON object";
  const { id, finished_at } = doc as Record<string, unknown>;
  if (typeof id !== "string" || `${id}.json` !== name) return "its id does not match its file name";
  if (typeof finished_at !== "string" || Number.isNaN(Date.parse(finished_at)))
    return "no finished_at time";
  return null;
}

export interface OutboxContents {
  /** Reports to send, oldest first. */
  pending: Pending[];
  /** Files that are not reports, with why. */
  rejected: Array<{ path: string; why: string }>;
}

/** What the outbox holds; reads only (the cycle moves rejected files aside, `status` only counts). */
export async function readOutbox(outboxDir: string): Promise<OutboxContents> {
  const names = (await readdir(outboxDir).catch(() => [] as string[])).filter((n) =>
    n.endsWith(".json"),
  );
  const pending: Pending[] = [];
  const rejected: OutboxContents["rejected"] = [];
  for (const name of names) {
    const path = join(outboxDir, name);
    let why: string | null;
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(path, "utf8"));
      why = notAReport(doc, name);
    } catch (error) {
      why = (error as NodeJS.ErrnoException).code === "EISDIR" ? "a folder" : "not valid JSON";
    }
    if (why === null) pending.push({ path, report: doc as Report });
    else rejected.push({ path, why });
  }
  pending.sort(
    (a, b) =>
      a.report.finished_at.localeCompare(b.report.finished_at) ||
      a.report.id.localeCompare(b.report.id),
  );
  return { pending, rejected };
}

/** Every report in the outbox, oldest first (files that are not reports are left out). */
export async function pendingReports(outboxDir: string): Promise<Pending[]> {
  return (await readOutbox(outboxDir)).pending;
}

/** Moves files that are not reports to outbox/rejected/, one warning each. */
async function setAside(
  outboxDir: string,
  rejected: OutboxContents["rejected"],
  log: Logger,
  /** Why, as the log line says it. */
  said: (why: string) => string = (why) => `it is not a report (${why})`,
): Promise<void> {
  if (rejected.length === 0) return;
  const dir = rejectedDir(outboxDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const { path, why } of rejected) {
    const to = join(dir, basename(path));
    await rename(path, to);
    log.warn({ file: to }, `Moved ${basename(path)} out of the outbox: ${said(why)}.`);
  }
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

/**
 * The master's answer: null when it has the report (2xx, or 409 for an id it
 * has); `refused` when it will never take these bytes (400, 413: sending
 * them again would block every later report); else why it may later.
 */
type Delivery = null | { problem: string; refused: boolean };

/** POSTs one report. */
async function deliver(report: Report, options: FlushOptions): Promise<Delivery> {
  const timer = deadline(options.deadlineMs ?? 15_000);
  try {
    const response = await request(options.url, {
      dispatcher: options.client.dispatcher,
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": report.id },
      body: JSON.stringify(report),
      signal: timer.signal,
    });
    const status = response.statusCode;
    if ((status >= 200 && status < 300) || status === 409) {
      await response.body.dump();
      return null;
    }
    // Refused for good only in the receiver's own words (docs/protocol.md section 4): a 400
    // from nginx (a client certificate it refused) or a proxy must be sent again later.
    const line =
      status === 400 || status === 413
        ? oneLine((await bodyPrefix(response.body, 512)).split("\n")[0] ?? "")
        : "";
    await response.body.dump().catch(() => undefined);
    const refused = line.startsWith("report refused:");
    return { problem: `HTTP ${status}${refused ? `: ${line}` : ""}`, refused };
  } catch (error) {
    return { problem: oneLine(classifyNetworkError(error, "report", options.url)), refused: false };
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
  const { pending, rejected } = await readOutbox(options.outboxDir);
  await setAside(options.outboxDir, rejected, options.log).catch((error) =>
    options.log.warn(
      { code: "E_IO" },
      `Could not move a stray file out of the outbox: ${oneLine(error)}`,
    ),
  );
  const attempts = options.attempts ?? 3;
  let sent = 0;
  let refusedCount = 0;
  for (const item of pending) {
    let delivery: Delivery = null;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      delivery = await deliver(item.report, options);
      if (delivery === null || delivery.refused) break;
      if (attempt < attempts) await options.sleep((options.backoffMs ?? 500) * 2 ** (attempt - 1));
    }
    if (delivery?.refused) {
      // kept for an operator, out of the way of the reports after it
      await setAside(
        options.outboxDir,
        [{ path: item.path, why: delivery.problem }],
        options.log,
        (why) => `the master refused it (${why}); kept in outbox/rejected/ for an operator`,
      );
      refusedCount++;
      continue;
    }
    if (delivery !== null) {
      options.log.warn(
        { report_id: item.report.id, pending: pending.length - sent - refusedCount },
        `Report not delivered (${delivery.problem}); kept in the outbox.`,
      );
      break;
    }
    await rm(item.path, { force: true });
    sent++;
  }
  return { sent, pending: pending.length - sent - refusedCount };
}
