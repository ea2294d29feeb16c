/**
 * Hosts say they are alive (issue 18): a cycle with nothing to report files
 * a "current" report naming the active release, at most once per
 * feed.heartbeat; any report filed resets the wait; "0" turns it off.
 * Real `update` cycles against a real mTLS master, with a fake clock.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import { type AgentDirs, manifestDoc, release, runningHost, signedFeed } from "../helpers/feed.js";
import { type Master, offerUpgrade, startMaster } from "../helpers/master.js";
import { tempDir } from "../helpers/tmp.js";

const HOUR = 3600_000;
let master: Master;

before(async () => {
  master = await startMaster("du-heartbeat-");
});
after(() => master.close());

function upToDate(serial = 10): void {
  master.files = signedFeed(
    master.signer,
    manifestDoc({
      serial,
      latest: "1.0.0",
      expires: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      releases: [release("1.0.0", "1000000aaaa")],
    }),
  );
}

async function host(
  t: Parameters<typeof tempDir>[0],
  feed: Record<string, unknown> = {},
): Promise<AgentDirs> {
  master.reports.length = 0;
  return runningHost(await tempDir(t), master.pki, master.signer, `${master.server.url}/feed`, {
    feed: { report_url: `${master.server.url}/reports`, ...feed },
  } as never);
}

async function cycleAt(dirs: AgentDirs, now: Date) {
  master.date = now;
  return runUpdate(await loadConfig(dirs.configFile), agentDeps({ now: () => now }), {
    force: false,
  });
}

test("an up-to-date host sends one 'current' report per feed.heartbeat, naming its active release", async (t) => {
  upToDate();
  const dirs = await host(t);
  const t0 = new Date(Math.floor(Date.now() / 1000) * 1000);
  assert.equal((await cycleAt(dirs, t0)).status, "up_to_date");
  assert.equal(master.reports.length, 1);
  const beat = master.reports[0] as Record<string, unknown>;
  assert.equal(beat.status, "current");
  assert.deepEqual(beat.from, { sha: "1000000aaaa", version: "1.0.0" });
  assert.equal(beat.to, null);
  assert.equal(beat.error, null);
  assert.deepEqual(beat.steps, []);
  assert.equal(beat.finished_at, t0.toISOString());
  // within 6 h: quiet; at 6 h: the next one
  await cycleAt(dirs, new Date(t0.getTime() + 15 * 60_000));
  await cycleAt(dirs, new Date(t0.getTime() + 6 * HOUR - 1000));
  assert.equal(master.reports.length, 1);
  await cycleAt(dirs, new Date(t0.getTime() + 6 * HOUR));
  assert.deepEqual(
    master.reports.map((r) => r.status),
    ["current", "current"],
  );
});

test("a report the cycle files resets the wait: no heartbeat right after a skip", async (t) => {
  offerUpgrade(master);
  const dirs = await host(t, { heartbeat: "1h" });
  const t0 = new Date(Math.floor(Date.now() / 1000) * 1000);
  // the target has no tarball: the cycle fails and reports it
  assert.equal((await cycleAt(dirs, t0)).status, "failed");
  upToDate(11);
  await cycleAt(dirs, new Date(t0.getTime() + 30 * 60_000));
  assert.deepEqual(
    master.reports.map((r) => r.status),
    ["failed"],
  );
  await cycleAt(dirs, new Date(t0.getTime() + HOUR));
  assert.deepEqual(
    master.reports.map((r) => r.status),
    ["failed", "current"],
  );
});

test('feed.heartbeat = "0": no heartbeat, ever', async (t) => {
  upToDate();
  const dirs = await host(t, { heartbeat: "0" });
  const t0 = new Date();
  await cycleAt(dirs, t0);
  await cycleAt(dirs, new Date(t0.getTime() + 48 * HOUR));
  assert.equal(master.reports.length, 0);
});

test("a clock that went back does not silence the heartbeat", async (t) => {
  upToDate();
  const dirs = await host(t);
  const t0 = new Date(Math.floor(Date.now() / 1000) * 1000);
  await cycleAt(dirs, t0);
  await cycleAt(dirs, new Date(t0.getTime() - 2 * HOUR));
  assert.deepEqual(
    master.reports.map((r) => r.status),
    ["current", "current"],
  );
});
