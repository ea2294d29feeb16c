/**
 * Reports survive a master outage: written first, sent oldest first, removed
 * only on 2xx or 409, delivered exactly once per id across down, 503 and 200.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createHttpClient, type HttpClient } from "../../src/http/tls.js";
import { createLogger } from "../../src/log.js";
import { type Report, reportOf } from "../../src/report/build.js";
import { flushOutbox, writeToOutbox } from "../../src/report/outbox.js";
import { startMtlsServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { freePort } from "../helpers/release.js";
import { tempDir } from "../helpers/tmp.js";

let root: string;
let pki: Pki;
let client: HttpClient;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-outbox-"));
  pki = makePki(root);
  client = await createHttpClient(
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, keyPrefix: "feed" },
    { timeoutMs: 1000 },
  );
});
after(async () => {
  await client.close();
  await rm(root, { recursive: true, force: true });
});

function report(finishedAt: string): Report {
  return reportOf(
    { host_id: "h" },
    {
      status: "updated",
      from: null,
      to: { sha: "abc1234", version: "1.0.0" },
      manifest_serial: 1,
      started_at: finishedAt,
      finished_at: finishedAt,
      steps: [],
      error: null,
      stderr: null,
    },
  );
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => resolve(body));
  });

const flush = (outboxDir: string, url: string) =>
  flushOutbox({
    client,
    url,
    outboxDir,
    log: createLogger("silent", process.stderr),
    sleep: async () => undefined,
    attempts: 2,
  });

describe("the outbox", () => {
  test("a master that is down, then answers 503, then 200 gets every report exactly once, oldest first", async (t) => {
    const outbox = join(await tempDir(t), "outbox");
    const newer = report("2026-11-26T10:00:00.000Z");
    const older = report("2026-11-26T09:00:00.000Z");
    await writeToOutbox(outbox, newer);
    await writeToOutbox(outbox, older);
    const port = await freePort();
    const url = `https://127.0.0.1:${port}/reports`;

    // down: nothing listens on the port
    assert.deepEqual(await flush(outbox, url), { sent: 0, pending: 2 });
    assert.equal((await readdir(outbox)).length, 2);

    let mode: 503 | 200 = 503;
    const delivered: string[] = [];
    const server = await startMtlsServer(pki, async (req, res) => {
      const body = JSON.parse(await readBody(req)) as Report;
      if (mode === 200) delivered.push(body.id);
      res.writeHead(mode).end();
    });
    t.after(() => server.close());
    const moved = `https://127.0.0.1:${server.port}/reports`;
    assert.deepEqual(await flush(outbox, moved), { sent: 0, pending: 2 });
    assert.equal(
      server.requests.length,
      2,
      "one report, tried twice, then the cycle stops to keep the order",
    );

    mode = 200;
    assert.deepEqual(await flush(outbox, moved), { sent: 2, pending: 0 });
    assert.deepEqual(delivered, [older.id, newer.id]);
    assert.deepEqual(await readdir(outbox), []);
    assert.deepEqual(await flush(outbox, moved), { sent: 0, pending: 0 });
    assert.deepEqual(delivered, [older.id, newer.id]);
    assert.equal(server.requests.at(-1)?.headers["idempotency-key"], newer.id);
  });

  test("409 (the master already has that id) counts as delivered", async (t) => {
    const outbox = join(await tempDir(t), "outbox");
    await writeToOutbox(outbox, report("2026-11-26T09:00:00.000Z"));
    const server = await startMtlsServer(pki, (_req, res) => res.writeHead(409).end());
    t.after(() => server.close());
    assert.deepEqual(await flush(outbox, `${server.url}/reports`), { sent: 1, pending: 0 });
    assert.deepEqual(await readdir(outbox), []);
  });
});
