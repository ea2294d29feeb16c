/**
 * A report the master will never take (400, 413) must not block the ones
 * after it: the host's outbox moves it to outbox/rejected/ with one warning
 * and goes on; nginx's own 400 (a client certificate it refuses) is not the
 * receiver's and keeps the report. Against the real receiver.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, test } from "node:test";
import { createHttpClient } from "../../src/http/tls.js";
import { createLogger } from "../../src/log.js";
import type { Report } from "../../src/report/build.js";
import { flushOutbox, writeToOutbox } from "../../src/report/outbox.js";
import { makePki } from "../helpers/pki.js";
import { startTestReceiver } from "../helpers/receiver.js";
import { hostReport } from "../helpers/reports.js";

const root = mkdtempSync(join(tmpdir(), "du-outbox-refused-"));
after(() => rm(root, { recursive: true, force: true }));

test("a report the receiver refuses is set aside; the next one is delivered", async () => {
  const pki = makePki(root);
  const client = pki.issue("worker-o", { clientAuth: true });
  mkdirSync(join(root, "r"));
  const receiver = await startTestReceiver(join(root, "r"), pki, { mode: "mtls" });
  const http = await createHttpClient(
    { ca: pki.ca, cert: client.cert, key: client.key, keyPrefix: "feed" },
    { timeoutMs: 5000 },
  );
  try {
    const outbox = join(root, "outbox");
    const refused = hostReport({
      host_id: "worker-o",
      finished_at: "2026-12-01T10:00:00.000Z",
      status: "exploded",
    }) as unknown as Report;
    const good = hostReport({
      host_id: "worker-o",
      finished_at: "2026-12-01T11:00:00.000Z",
    }) as unknown as Report;
    await writeToOutbox(outbox, refused);
    await writeToOutbox(outbox, good);
    const sink = new PassThrough();
    const lines: string[] = [];
    sink.on("data", (c) => lines.push(...String(c).split("\n").filter(Boolean)));
    const result = await flushOutbox({
      client: http,
      url: `${receiver.url}/reports`,
      outboxDir: outbox,
      log: createLogger("warn", sink, "json"),
      sleep: async () => {},
    });
    assert.deepEqual(result, { sent: 1, pending: 0 });
    assert.deepEqual(await readdir(outbox), ["rejected"]);
    assert.deepEqual(await readdir(join(outbox, "rejected")), [`${refused.id}.json`]);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).msg),
      [
        `Moved ${refused.id}.json out of the outbox: the master refused it (HTTP 400: report refused: field status: expected one of "updated", "rolled_back", "rollback_failed", "failed", "skipped", "warning", "current", found "exploded"); kept in outbox/rejected/ for an operator.`,
      ],
    );
    const ids = (await receiver.db.read.all<{ id: string }>("SELECT id FROM reports")).map(
      (r) => r.id,
    );
    assert.deepEqual(ids, [good.id]);
  } finally {
    await http.close();
    await receiver.close();
  }
});

test("nginx's 400 for a client certificate it refused is not a refusal: the report is kept", async () => {
  const pki = makePki(mkdtempSync(join(root, "nginx-")));
  const { startMtlsServer } = await import("../helpers/mtls-server.js");
  // what nginx answers with ssl_verify_client on and a certificate it does not take
  const server = await startMtlsServer(pki, (_req, res) => {
    res.writeHead(400, { "content-type": "text/html" });
    res.end("<html><head><title>400 The SSL certificate error</title></head></html>\n");
  });
  const http = await createHttpClient(
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, keyPrefix: "feed" },
    { timeoutMs: 5000 },
  );
  try {
    const outbox = join(root, "outbox-nginx");
    const report = hostReport({ host_id: "worker-o" }) as unknown as Report;
    await writeToOutbox(outbox, report);
    const result = await flushOutbox({
      client: http,
      url: `${server.url}/reports`,
      outboxDir: outbox,
      log: createLogger("silent", process.stderr),
      sleep: async () => {},
    });
    assert.deepEqual(result, { sent: 0, pending: 1 });
    assert.deepEqual(await readdir(outbox), [`${report.id}.json`], "kept, nothing set aside");
  } finally {
    await http.close();
    await server.close();
  }
});
