/**
 * POST /reports: one report in, one answer out (docs/protocol.md section 4).
 * The rules in order, each refusal one line in the answer and the log:
 * who sent it (401/403), how big (413), whether it is JSON (400) and a
 * report (400, the field named), whether its host_id is the sender's (403),
 * then stored exactly once (201; 409 for an id already stored, a conflict
 * when its bytes differ) and answered only after the commit (503 when the
 * store cannot take it: the host keeps it and sends it again).
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { oneLine } from "../errors.js";
import type { Logger } from "../log.js";
import type { IdentityFrom } from "./config.js";
import { senderOf } from "./identity.js";
import { checkReport } from "./report-schema.js";
import { type GroupCommit, StoreBehind } from "./store/group-commit.js";

export const MAX_REPORT_BYTES = 64 * 1024;

export interface IngestContext {
  identity: IdentityFrom;
  /** null: mTLS itself; a list: behind these proxies; "socket": behind a proxy on a unix socket. */
  trustedProxies: readonly string[] | "socket" | null;
  commit: GroupCommit;
  log: Logger;
  now: () => Date;
}

/** What a host is told of a store failure: its kind, not the database's message. */
function storeWord(error: unknown): string {
  const code = String((error as { code?: unknown })?.code ?? "");
  if (code === "SQLITE_FULL" || code === "53100") return "disk full";
  if (code.startsWith("SQLITE_") || /^[0-9A-Z]{5}$/.test(code)) return code;
  return "unavailable";
}

export function answer(response: ServerResponse, status: number, line: string): void {
  if (response.headersSent) return;
  response.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
  });
  response.end(`${line}\n`);
}

/** The body; null once it answered 413 (the rest is not read) or the client went away. */
function readBody(request: IncomingMessage, response: ServerResponse): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (body: Buffer | null) => {
      if (done) return;
      done = true;
      resolve(body);
    };
    const tooLarge = (why: string) => {
      answer(response, 413, `report refused: ${why}`);
      response.once("finish", () => request.destroy());
      request.pause();
      finish(null);
    };
    const declared = Number(request.headers["content-length"] ?? 0);
    if (declared > MAX_REPORT_BYTES)
      return tooLarge(`body of ${declared} bytes, the limit is ${MAX_REPORT_BYTES}`);
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_REPORT_BYTES) return tooLarge(`body over ${MAX_REPORT_BYTES} bytes`);
      chunks.push(chunk);
    });
    request.once("end", () => finish(Buffer.concat(chunks)));
    // A client that went away (or the request timeout) mid-body: nothing to answer.
    request.once("close", () => finish(null));
    request.once("error", () => finish(null));
  });
}

export async function ingest(
  request: IncomingMessage,
  response: ServerResponse,
  context: IngestContext,
): Promise<void> {
  const { log } = context;
  const remote = request.socket.remoteAddress ?? "unknown";
  const refuse = (status: number, why: string, fields: Record<string, unknown> = {}) => {
    log.warn({ http_status: status, remote, ...fields }, `Report refused: ${why}.`);
    answer(response, status, `report refused: ${why}`);
  };
  const sender = senderOf(request, context.identity, context.trustedProxies);
  if (!sender.ok) {
    request.resume();
    return refuse(sender.status, sender.why);
  }
  const body = await readBody(request, response);
  if (body === null) {
    log.warn(
      { http_status: response.headersSent ? 413 : null, remote },
      response.headersSent
        ? "Report refused: body over the limit."
        : "Report not read: the client went away or timed out mid-body.",
    );
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (error) {
    return refuse(400, `the body is not JSON (${oneLine(error)})`);
  }
  const checked = checkReport(parsed);
  if (!checked.ok) return refuse(400, checked.why);
  const { report } = checked;
  const fields = { host_id: report.host_id, report_id: report.id };
  if (!sender.names.includes(report.host_id))
    return refuse(
      403,
      `host_id ${JSON.stringify(report.host_id)} is not the client certificate's (${context.identity}: ${sender.names.map((n) => JSON.stringify(n)).join(", ") || "none"})`,
      fields,
    );
  const key = request.headers["idempotency-key"];
  if (key !== undefined && key !== report.id)
    return refuse(
      400,
      `Idempotency-Key ${JSON.stringify(key)} is not the report's id ${report.id}`,
      fields,
    );
  let outcome: Awaited<ReturnType<GroupCommit["submit"]>>;
  try {
    outcome = await context.commit.submit({
      report,
      body: body.toString("utf8"),
      digest: createHash("sha256").update(body).digest("hex"),
      receivedAt: context.now().toISOString(),
    });
  } catch (error) {
    log.error(
      { http_status: 503, ...fields, code: "E_STORE" },
      `Report not stored: ${oneLine(error)}.`,
    );
    // the database's own words stay in the log: a host learns only that it must come back
    const why =
      error instanceof StoreBehind
        ? "the store is behind"
        : `the store failed (${storeWord(error)})`;
    return answer(response, 503, `report not stored: ${why}; send it again later`);
  }
  if (outcome === "stored") {
    log.info(
      { ...fields, status: report.status },
      `Stored report ${report.id} (${report.status}).`,
    );
    return answer(response, 201, `stored ${report.id}`);
  }
  if (outcome === "conflict") {
    log.warn(
      { http_status: 409, ...fields },
      `Report conflict: id ${report.id} is already stored with other content; kept the first.`,
    );
    return answer(
      response,
      409,
      `conflict: id ${report.id} is already stored with other content; the first one is kept`,
    );
  }
  log.info({ ...fields }, `Report ${report.id} was already stored.`);
  return answer(response, 409, `already stored: ${report.id}`);
}
