/**
 * One verdict, three commands (issue 16): for each situation `check`, `plan`
 * and `update` must give the same verdict and the same reason, and `check`
 * says update_available (exit 100) only when `update` starts the pipeline.
 * Each situation is a fresh host against a real mTLS feed, on one clock.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCheck } from "../../src/agent/check.js";
import { runPlan } from "../../src/agent/plan.js";
import { loadConfig } from "../../src/config/load.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import {
  installActive,
  makeSigner,
  manifestDoc,
  release,
  type Signer,
  signedFeed,
  writeAgentConfig,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";

const DAY = 86_400_000;
/** The next Friday 12:00 UTC: outside "Sat 02:00-04:00". */
const NOW = (() => {
  const at = new Date();
  at.setUTCHours(12, 0, 0, 0);
  while (at.getUTCDay() !== 5 || at.getTime() <= Date.now()) at.setTime(at.getTime() + DAY);
  return at;
})();
const TARGET = "1100000bbbb";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let files = new Map<string, Buffer>();
let hosts = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-verdict-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
  // the master's clock is this test's clock: preflight compares them
  server = await startMtlsServer(pki, (req, res) => {
    res.setHeader("date", NOW.toUTCString());
    staticFiles(files)(req, res);
  });
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

interface Situation {
  name: string;
  /** Config tables over the defaults. */
  config?: Record<string, Record<string, unknown>>;
  /** The target release's extra fields. */
  target?: Record<string, unknown>;
  active?: string;
  state?: (now: Date) => Record<string, unknown>;
  verdict?: string;
  reason?: RegExp;
  /** All three refuse with this code and the same line. */
  error?: string;
}

const SITUATIONS: Situation[] = [
  {
    name: "up to date",
    active: TARGET,
    verdict: "up_to_date",
    reason: /^1\.1\.0 \(1100000bbbb\) is active$/,
  },
  {
    name: "update available",
    verdict: "update",
    reason: /^1\.1\.0 \(1100000bbbb\) is the target$/,
  },
  {
    name: "pin hold",
    config: { pin: { hold: true } },
    verdict: "held",
    reason: /^pin\.hold is set \(would update: /,
  },
  { name: "pin to an absent sha", config: { pin: { sha: "deadbeef00" } }, error: "E_PIN" },
  {
    name: "rollout excluded",
    target: { rollout: { percent: 0 } },
    verdict: "up_to_date",
    reason: /is rolling out to 0% and this host's bucket is \d+$/,
  },
  {
    name: "window closed",
    config: { schedule: { windows: ["Sat 02:00-04:00"], timezone: "UTC" } },
    verdict: "held",
    reason: /; it waits: outside the maintenance windows; the next, Sat 02:00-04:00 UTC, opens at /,
  },
  {
    name: "aging",
    config: { pin: { min_age: "3d" } },
    verdict: "held",
    reason:
      /; it waits: 1\.1\.0 \(1100000bbbb\) was first seen here at .*; pin\.min_age lets it in at /,
  },
  {
    name: "budget spent",
    config: { limits: { max_updates_per_day: 1 } },
    state: (now) => ({ update_times: [new Date(now.getTime() - 3_600_000).toISOString()] }),
    verdict: "held",
    reason: /; it waits: update budget used: 1 updates in the last 24 h/,
  },
  {
    name: "backoff",
    state: (now) => ({
      retries: {
        [TARGET]: {
          version: "1.1.0",
          failures: 1,
          install_failures: 0,
          skip_cycles: 2,
          last_failure_at: new Date(now.getTime() - 60_000).toISOString(),
          error: "tarball: HTTP 502",
        },
      },
    }),
    verdict: "skipped",
    reason:
      /^backing off after 1 failure\(s\) of 1\.1\.0: this cycle is skipped, and 1 more after it \(last: tarball: HTTP 502\)$/,
  },
  {
    name: "marked failed",
    state: (now) => ({
      failed_releases: {
        [TARGET]: {
          version: "1.1.0",
          marked_at: now.toISOString(),
          attempts: 1,
          error: "rolled back",
        },
      },
    }),
    verdict: "skipped",
    reason: /^1\.1\.0 \(1100000bbbb\) is marked failed on this host$/,
  },
  {
    name: "min_updater waiting",
    target: { min_updater: "99.0.0" },
    verdict: "waiting-for-updater",
    reason: /needs decnet-updater >= 99\.0\.0 and this is .*; it waits: self_update is disabled/,
  },
  { name: "expired certificate", error: "E_TLS_CLIENT" },
];

async function host(situation: Situation) {
  const dir = join(root, `host-${hosts++}`);
  await mkdir(dir);
  let client = { cert: pki.client.cert, key: pki.client.key };
  if (situation.name === "expired certificate")
    client = pki.issue(`expired-${hosts}`, {
      validity: { start: "20200101000000Z", end: "20200201000000Z" },
      clientAuth: true,
    });
  const dirs = await writeAgentConfig(dir, pki, signer, `${server.url}/feed`, {
    feed: { cert: client.cert, key: client.key } as never,
    probe: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    limits: { max_updates_per_day: 100 },
    ...((situation.config ?? {}) as Record<string, never>),
  });
  await installActive(dirs.installDir, situation.active ?? "1000000aaaa", "x");
  if (situation.state) {
    await mkdir(dirs.stateDir, { recursive: true, mode: 0o700 });
    await writeFile(
      join(dirs.stateDir, "state.json"),
      JSON.stringify({ schema: 1, highest_serial: null, ...situation.state(NOW) }),
    );
  }
  return dirs;
}

describe("check, plan and update give one verdict and one reason", { concurrency: false }, () => {
  for (const situation of SITUATIONS) {
    test(situation.name, async () => {
      files = signedFeed(
        signer,
        manifestDoc({
          expires: new Date(NOW.getTime() + 7 * DAY).toISOString(),
          releases: [
            release("1.0.0", "1000000aaaa"),
            release("1.1.0", TARGET, situation.target ?? {}),
          ],
        }),
      );
      const dirs = await host(situation);
      const config = await loadConfig(dirs.configFile);
      const deps = agentDeps({ now: () => NOW });
      if (situation.error) {
        const outcomes = await Promise.all(
          [
            runCheck(config, deps),
            runPlan(config, deps),
            runUpdate(config, deps, { force: false }),
          ].map((run) =>
            run.then(
              () => "resolved",
              (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
            ),
          ),
        );
        assert.ok(outcomes[0]?.startsWith(`${situation.error}: `), outcomes[0]);
        assert.deepEqual(outcomes, [outcomes[0], outcomes[0], outcomes[0]], "the same refusal");
        return;
      }
      // check and plan first: update counts a backoff skip
      const check = await runCheck(config, deps);
      const plan = await runPlan(config, deps);
      const update = await runUpdate(config, deps, { force: false });
      assert.deepEqual(
        [check.verdict, plan.verdict, update.verdict],
        [situation.verdict, situation.verdict, situation.verdict],
      );
      assert.match(check.reason, situation.reason as RegExp);
      assert.equal(plan.reason, check.reason);
      assert.equal(update.reason, check.reason);
      // 100 from check exactly when update ran its pipeline
      const ranPipeline = update.steps.some((step) => step.name === "download");
      assert.equal(check.status === "update_available", ranPipeline);
      if (situation.verdict !== "update") assert.equal(update.status, check.status);
    });
  }
});
