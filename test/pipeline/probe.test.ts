/**
 * The health probe against a real mTLS endpoint, on a fake clock: how soon it
 * asks again while nothing listens yet, and when it gives up.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createHttpClient, type HttpClient } from "../../src/http/tls.js";
import { probeHealth, REFUSED_RETRY_MS } from "../../src/pipeline/steps/probe.js";
import { type Handler, startMtlsServer, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";

let root: string;
let pki: Pki;
let client: HttpClient;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-probe-"));
  pki = makePki(root);
  client = await createHttpClient(
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, keyPrefix: "probe" },
    { timeoutMs: 2000 },
  );
});
after(async () => {
  await client.close();
  await rm(root, { recursive: true, force: true });
});

const healthy: Handler = (_req, res) =>
  res.writeHead(200, { "content-type": "application/json" }).end('{"sha":"abc","version":"2.0.0"}');

/** A clock that moves only when the probe sleeps; `onSleep` runs before each sleep returns. */
function fakeClock(onSleep: (count: number) => Promise<void> | void = () => undefined) {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    monotonicMs: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
      await onSleep(sleeps.length);
    },
  };
}

function probeInput(
  url: string,
  clock: ReturnType<typeof fakeClock>,
  attempts: number,
  backoffMs: number,
) {
  const lines: string[] = [];
  return {
    lines,
    input: {
      client,
      url,
      attempts,
      backoffMs,
      soakMs: 0,
      identity: "if-present" as const,
      expect: { sha: "abc", version: "2.0.0" },
      sleep: clock.sleep,
      monotonicMs: clock.monotonicMs,
      log: {
        info: (_fields: object, message: string) => {
          lines.push(message);
        },
      },
    },
  };
}

/** A server that took a port and let it go: connecting to it is refused until `listen()`. */
async function refusingPort(
  handler: Handler,
): Promise<{ server: TestServer; listen(): Promise<void> }> {
  const server = await startMtlsServer(pki, handler);
  await new Promise<void>((resolve) => server.server.close(() => resolve()));
  return {
    server,
    listen: () =>
      new Promise<void>((resolve) => server.server.listen(server.port, "127.0.0.1", resolve)),
  };
}

test("while the port refuses, the probe asks again every 25 ms without using up its attempts", async (t) => {
  const port = await refusingPort(healthy);
  t.after(() => port.server.close());
  // the agent starts listening after ten refusals (250 ms); backoff_s alone would have spent 2 of 3 attempts
  const clock = fakeClock(async (count) => {
    if (count === 10) await port.listen();
  });
  const { input, lines } = probeInput(`${port.server.url}/health`, clock, 3, 500);
  const result = await probeHealth(input);
  assert.equal(result.healthy, true, result.detail);
  assert.deepEqual(clock.sleeps, Array(10).fill(REFUSED_RETRY_MS));
  assert.equal(result.attempts, 11);
  assert.deepEqual(lines, ["The agent answered healthy; soaking."]);
});

test("a port that refuses for attempts x backoff_s is given up after exactly that long", async () => {
  const port = await refusingPort(healthy);
  const clock = fakeClock();
  const { input } = probeInput(`${port.server.url}/health`, clock, 3, 100);
  const result = await probeHealth(input);
  assert.equal(result.healthy, false);
  assert.match(
    result.detail,
    /^unhealthy after 12 probes \(3 x 0\.1 s\): probe https:\/\/127\.0\.0\.1:\d+\/health: /,
  );
  assert.equal(
    clock.sleeps.reduce((a, b) => a + b, 0),
    300,
    "twelve 25 ms retries make the 3 x 100 ms budget",
  );
});

test("an agent that answers but is unhealthy uses one attempt per backoff_s", async (t) => {
  const server = await startMtlsServer(pki, (_req, res) => res.writeHead(503).end());
  t.after(() => server.close());
  const clock = fakeClock();
  const { input } = probeInput(`${server.url}/health`, clock, 3, 100);
  const result = await probeHealth(input);
  assert.equal(result.healthy, false);
  assert.deepEqual(clock.sleeps, [100, 100]);
  assert.equal(server.requests.length, 3);
  assert.match(result.detail, /^unhealthy after 3 probes \(3 x 0\.1 s\): .*503/);
});
