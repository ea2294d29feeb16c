/**
 * The operator's gates on a real `update` cycle, in process, with a fake
 * clock: release aging (first sighting recorded by this host), maintenance
 * windows and the update budget. The feed is real (mTLS, signed); the target
 * has no tarball, so a cycle that gets past the gates fails its download
 * (E_HTTP_STATUS 404): that is how the tests see a gate open. Held cycles
 * must leave the install dir exactly as it was.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCheck } from "../../src/agent/check.js";
import { loadConfig } from "../../src/config/load.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import { type AgentDirs, runningHost } from "../helpers/feed.js";
import { type Master, offerUpgrade, startMaster } from "../helpers/master.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

let master: Master;

before(async () => {
  master = await startMaster("du-gates-");
});
after(() => master.close());

/** A host on 1.0.0 whose feed offers 1.1.0 (published long ago by the master's clock). */
async function host(
  t: Parameters<typeof tempDir>[0],
  extra: Record<string, Record<string, unknown>>,
  target: Record<string, unknown> = {},
): Promise<AgentDirs> {
  offerUpgrade(master, { published_at: "2020-01-01T00:00:00Z", ...target });
  master.reports.length = 0;
  return runningHost(await tempDir(t), master.pki, master.signer, `${master.server.url}/feed`, {
    feed: { report_url: `${master.server.url}/master.reports` },
    ...(extra as Record<string, Record<string, string>>),
  });
}

async function cycleAt(dirs: AgentDirs, now: Date) {
  master.date = now;
  return runUpdate(await loadConfig(dirs.configFile), agentDeps({ now: () => now }), {
    force: false,
  });
}

const state = async (dirs: AgentDirs) =>
  JSON.parse(await readFile(join(dirs.stateDir, "state.json"), "utf8"));

/** The gate opened: the pipeline ran and failed on the missing tarball. */
function assertPipelineRan(result: Awaited<ReturnType<typeof cycleAt>>) {
  assert.equal(result.status, "failed");
  assert.equal(result.code, "E_HTTP_STATUS");
  assert.deepEqual(
    result.steps.map((s) => s.name),
    ["fetch", "preflight", "download"],
  );
}

describe("release aging (pin.min_age)", () => {
  test("a release waits min_age from this host's own first sighting, not the master's date", async (t) => {
    const dirs = await host(t, { pin: { min_age: "3d" } });
    const t0 = new Date(Math.floor(Date.now() / 1000) * 1000);
    const before = await snapshot(dirs.installDir);
    const first = await cycleAt(dirs, t0);
    assert.equal(first.status, "held");
    assert.equal(first.exitCode, 0);
    assert.equal(first.error, null);
    const ready = new Date(t0.getTime() + 3 * DAY).toISOString();
    assert.equal(
      (await state(dirs)).first_seen["1100000bbbb"],
      t0.toISOString(),
      "the sighting is recorded",
    );
    const check = await runCheck(
      await loadConfig(dirs.configFile),
      agentDeps({ now: () => new Date(t0.getTime() + DAY) }),
    );
    // what `update` does (it holds), check says too (issue 16)
    assert.equal(check.status, "held");
    assert.equal(
      check.reason,
      `1.1.0 (1100000bbbb) is the target; it waits: 1.1.0 (1100000bbbb) was first seen here at ${t0.toISOString()}; pin.min_age lets it in at ${ready}`,
    );
    const almost = await cycleAt(dirs, new Date(t0.getTime() + 3 * DAY - 60_000));
    assert.equal(almost.status, "held");
    assert.deepEqual(await snapshot(dirs.installDir), before);
    // a release that is aging is not news: only heartbeats (issue 18), the first cycle's and
    // the one due 3 days later (feed.heartbeat = 6h), naming nothing as a target
    assert.deepEqual(
      master.reports.map((r) => [r.status, r.to]),
      [
        ["current", null],
        ["current", null],
      ],
    );
    assertPipelineRan(await cycleAt(dirs, new Date(t0.getTime() + 3 * DAY)));
  });

  test('"critical": true in the signed manifest skips the wait', async (t) => {
    const dirs = await host(t, { pin: { min_age: "3d" } }, { critical: true });
    assertPipelineRan(await cycleAt(dirs, new Date()));
  });
});

describe("maintenance windows (schedule.windows)", () => {
  test("outside a window the update waits and says when the next opens; inside it runs", async (t) => {
    const dirs = await host(t, { schedule: { windows: ["Sat 02:00-04:00"], timezone: "UTC" } });
    // the next Friday noon UTC, and the Saturday 02:30 after it
    const friday = new Date(Date.now());
    friday.setUTCHours(12, 0, 0, 0);
    while (friday.getUTCDay() !== 5 || friday.getTime() <= Date.now())
      friday.setTime(friday.getTime() + DAY);
    const opens = new Date(friday.getTime() + 14 * HOUR);
    const before = await snapshot(dirs.installDir);
    const outside = await cycleAt(dirs, friday);
    assert.equal(outside.status, "held");
    assert.deepEqual(await snapshot(dirs.installDir), before);
    const result = await state(dirs);
    assert.equal(result.last_result.status, "held");
    const check = await runCheck(
      await loadConfig(dirs.configFile),
      agentDeps({ now: () => friday }),
    );
    assert.match(
      check.reason,
      new RegExp(
        `; it waits: outside the maintenance windows; the next, Sat 02:00-04:00 UTC, opens at ${opens.toISOString().replace(/\./g, "\\.")}$`,
      ),
    );
    assertPipelineRan(await cycleAt(dirs, new Date(opens.getTime() + 30 * 60_000)));
  });
});

describe("the update budget (limits.max_updates_per_day)", () => {
  test("a host that used its budget waits, master.reports that once, and goes on when the oldest update is 24 h old", async (t) => {
    const dirs = await host(t, { limits: { max_updates_per_day: 2 } });
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const at = (ms: number) => new Date(now.getTime() + ms).toISOString();
    // this host's own record of its last two updates, from an earlier life
    await mkdir(dirs.stateDir, { recursive: true });
    await writeFile(
      join(dirs.stateDir, "state.json"),
      JSON.stringify({
        schema: 1,
        highest_serial: null,
        update_times: [at(-23 * HOUR), at(-HOUR)],
      }),
    );
    const install = await snapshot(dirs.installDir);
    const stopped = await cycleAt(dirs, now);
    assert.equal(stopped.status, "held");
    const reason = `update budget used: 2 updates in the last 24 h (limits.max_updates_per_day = 2); the next is allowed at ${at(HOUR)}`;
    assert.deepEqual(
      master.reports.map((r) => [r.status, r.error, (r.to as { version: string }).version]),
      [["skipped", reason, "1.1.0"]],
    );
    const again = await cycleAt(dirs, new Date(now.getTime() + 10 * 60_000));
    assert.equal(again.status, "held");
    assert.equal(master.reports.length, 1, "reported once per target");
    assert.deepEqual(await snapshot(dirs.installDir), install, "a held update changes nothing");
    assertPipelineRan(await cycleAt(dirs, new Date(now.getTime() + HOUR)));
    assert.deepEqual((await state(dirs)).update_times, [at(-HOUR), at(HOUR)]);
  });
});
