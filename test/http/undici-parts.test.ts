/**
 * src/http/undici.ts loads undici's Agent, buildConnector and request from
 * undici's own files, not its index (start-up cost, docs/performance.md).
 * undici is pinned; these fail when an upgrade moves or changes them.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import * as undici from "undici";
import { Agent, buildConnector, request } from "../../src/http/undici.js";

test("the parts are the very objects undici's index exports", () => {
  assert.equal(Agent, undici.Agent);
  assert.equal(buildConnector, undici.buildConnector);
});

test("request(url, { dispatcher }) sends what undici's own request sends", async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers["if-none-match"] ?? "-"}`);
    res.writeHead(req.headers["if-none-match"] === '"v1"' ? 304 : 200, { etag: '"v1"' });
    res.end(req.headers["if-none-match"] ? "" : "body");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed/manifest.json?x=1`;
  const dispatcher = new Agent();
  try {
    const ours = await request(url, {
      dispatcher,
      method: "GET",
      headers: { "if-none-match": '"v1"' },
    });
    const theirs = await undici.request(url, { dispatcher, headers: { "if-none-match": '"v1"' } });
    assert.deepEqual([ours.statusCode, await ours.body.text()], [304, ""]);
    assert.deepEqual([theirs.statusCode, await theirs.body.text()], [304, ""]);
    const plain = await request(url, { dispatcher, method: "GET" });
    assert.deepEqual(
      [plain.statusCode, await plain.body.text(), plain.headers.etag],
      [200, "body", '"v1"'],
    );
    assert.deepEqual(seen, [
      'GET /feed/manifest.json?x=1 "v1"',
      'GET /feed/manifest.json?x=1 "v1"',
      "GET /feed/manifest.json?x=1 -",
    ]);
  } finally {
    await dispatcher.close();
    server.close();
  }
});
