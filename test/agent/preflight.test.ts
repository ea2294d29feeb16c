/**
 * Preflight on a real `update` cycle: what fails it is the host's
 * environment (disk, clock), so the cycle fails with E_DISK or E_CLOCK,
 * changes nothing, and the release is never marked failed however often it
 * happens. A client certificate close to expiry is a warning that reaches
 * the master, once a day, even when there is nothing to update.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import { type AgentDirs, manifestDoc, runningHost, signedFeed } from "../helpers/feed.js";
import { type Master, offerUpgrade, startMaster } from "../helpers/master.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

let master: Master;

before(async () => {
  master = await startMaster("du-preflight-");
});
after(() => master.close());

async function host(
  t: Parameters<typeof tempDir>[0],
  target: Record<string, unknown> = {},
  feed: Record<string, string> = {},
): Promise<AgentDirs> {
  offerUpgrade(master, target);
  master.reports.length = 0;
  master.date = null;
  return runningHost(await tempDir(t), master.pki, master.signer, `${master.server.url}/feed`, {
    feed: { report_url: `${master.server.url}/master.reports`, ...feed },
    retry: { max_install_attempts: 2 },
  });
}

const update = async (dirs: AgentDirs, now = new Date()) =>
  runUpdate(await loadConfig(dirs.configFile), agentDeps({ now: () => now }), { force: false });
const state = async (dirs: AgentDirs) =>
  JSON.parse(await readFile(join(dirs.stateDir, "state.json"), "utf8"));

/** Cycles until `n` of them ran preflight (backoff skips some); each must fail the same way. */
async function failPreflight(dirs: AgentDirs, n: number, code: string, message: RegExp) {
  const install = await snapshot(dirs.installDir);
  let failures = 0;
  for (let cycle = 0; cycle < 20 && failures < n; cycle++) {
    const result = await update(dirs);
    if (result.status === "skipped") continue; // backing off between failures
    failures++;
    assert.equal(result.status, "failed");
    assert.equal(result.code, code);
    assert.match(result.error ?? "", message);
    assert.equal(result.exitCode, 1);
    assert.deepEqual(
      result.steps.map((s) => `${s.name}:${s.ok}`),
      ["fetch:true", "preflight:false"],
    );
  }
  assert.equal(failures, n);
  assert.deepEqual(await snapshot(dirs.installDir), install, "nothing changed");
  const after = await state(dirs);
  assert.deepEqual(after.failed_releases, {}, "an environment failure never marks the release");
  assert.equal(after.retries["1100000bbbb"].install_failures, 0);
  assert.deepEqual(after.update_times, [], "no update ran, none counted against the budget");
  assert.deepEqual(
    master.reports.map((r) => [r.status, (r.error as string).slice(0, 10)]),
    Array.from({ length: n }, () => ["failed", "preflight:"]),
  );
}

describe("preflight", () => {
  test("not enough disk for the download is E_DISK, naming the folder and both sizes", async (t) => {
    const dirs = await host(t, { size: 2 ** 50 });
    await failPreflight(
      dirs,
      3,
      "E_DISK",
      new RegExp(
        `^preflight: ${join(dirs.stateDir, "downloads")} has [0-9.]+ MiB free, the download of 1\\.1\\.0 \\(1073741824\\.0 MiB\\) needs 1073741824\\.0 MiB$`,
      ),
    );
  });

  test("a host clock 10 minutes off the master's is E_CLOCK", async (t) => {
    const dirs = await host(t);
    master.date = new Date(Date.now() - 10 * 60_000);
    await failPreflight(
      dirs,
      3,
      "E_CLOCK",
      /^preflight: this host's clock is 6\d\d s ahead of the master's \(Date: .+ GMT\); more than 300 s, fix its time sync$/,
    );
  });

  test("a client certificate that expires within 7 days is reported, once a day, with nothing to update", async (t) => {
    const end = new Date(Date.now() + 3 * 86_400_000);
    const stamp = (d: Date) => `${d.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
    const short = master.pki.issue("short-lived-client", {
      clientAuth: true,
      validity: { start: stamp(new Date(Date.now() - 86_400_000)), end: stamp(end) },
    });
    const dirs = await host(t, {}, { cert: short.cert, key: short.key });
    // nothing to update: the host already runs the latest
    master.files = signedFeed(master.signer, manifestDoc({ latest: "1.0.0" }));
    const now = new Date();
    const first = await update(dirs, now);
    assert.equal(first.status, "up_to_date");
    assert.equal(master.reports.length, 1);
    const warning = master.reports[0] as Record<string, unknown>;
    assert.equal(warning.status, "warning");
    assert.equal(warning.error, null);
    assert.match(
      (warning.warnings as string[]).join("|"),
      new RegExp(
        `^client certificate \\(feed\\.cert\\) ${short.cert} expires at ${end.toISOString().slice(0, 19)}\\.000Z, within 7 days$`,
      ),
    );
    await update(dirs, new Date(now.getTime() + 3600_000));
    assert.equal(master.reports.length, 1, "not again within the day");
    await update(dirs, new Date(now.getTime() + 86_400_000));
    assert.equal(master.reports.length, 2, "again a day later");
  });
});
