/**
 * The daemon's memory stays flat over many cycles. The daemon's cycle is
 * `runUpdate` plus the daemon.json write; this runs that 1500 times in this
 * process against a real mTLS feed (a 304 each time, an HTTP 503 every fifth
 * cycle so the error path is in the mix) and compares a census of the
 * JS-level heap (objects, closures, strings, arrays, buffers; from real V8
 * heap snapshots after a full GC) at cycle 300 (warm) and at the end. A leak
 * keeps objects: a leaked TLS client, listener, timer or report per cycle is
 * dozens of objects per cycle, so the bound is 1 object per 10 cycles (one
 * leaked object per cycle fails it). Bytes are bounded loosely (V8 resizes
 * internal tables by a few hundred KiB, once) at 400 B per cycle. Live handles
 * (sockets, timers, file handles) must not grow at all. Figures and the
 * biggest growth are printed.
 * (This test found AbortSignal.timeout()'s timers outliving every request.
 * It once failed in CI on node:test's own table of live async resources, a
 * backlog of destroy hooks under load; heapCensus now lets them run first.)
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { publishRelease } from "../../src/feed/publish.js";
import { writeDaemonInfo } from "../../src/state/daemon-info.js";
import { agentDeps } from "../helpers/deps.js";
import { installActive, makeSigner, writeAgentConfig } from "../helpers/feed.js";
import { heapCensus, loadCensus, topGrowth, totalBytes, totalCount } from "../helpers/heap.js";
import { startMtlsServer, staticDir, type TestServer } from "../helpers/mtls-server.js";
import { makePki } from "../helpers/pki.js";

const CYCLES = Number(process.env.CYCLES ?? 1500);
const WARM = 300;
/** A leak grows in both halves after the warm-up; GC and JIT noise (+-0.5 MiB here) does not. */
const MID = Math.round((WARM + CYCLES) / 2);
const SHA = "abcdef1234567";

let root: string;
let server: TestServer;
let config: Config;
let failNext = false;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-memory-"));
  const pki = makePki(root);
  const signer = await makeSigner(join(root, "keys"));
  await mkdir(join(root, "feed"));
  await writeFile(join(root, "decnet.tar.gz"), "not downloaded: the host already runs it\n");
  await publishRelease({
    feedDir: join(root, "feed"),
    tarball: join(root, "decnet.tar.gz"),
    version: "1.0.0",
    sha: SHA,
    keyFile: signer.keyFile,
    latest: true,
    rolloutPercent: 100,
    expiresInS: 86400,
    now: new Date(),
  });
  const feed = staticDir(join(root, "feed"));
  server = await startMtlsServer(pki, (req, res) => {
    if (failNext) res.writeHead(503).end();
    else feed(req, res);
  });
  await mkdir(join(root, "host"));
  const dirs = await writeAgentConfig(join(root, "host"), pki, signer, `${server.url}/`);
  await installActive(dirs.installDir, SHA, "1.0.0");
  config = await loadConfig(dirs.configFile);
});
after(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test(`the JS heap and live handles stay flat over ${CYCLES} daemon cycles`, async () => {
  const deps = agentDeps();
  const statuses = new Map<string, number>();
  let warm: { censusPath: string; handles: number } | undefined;
  let midPath = "";
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    failNext = cycle % 5 === 0;
    let status: string;
    try {
      status = (await runUpdate(config, deps, { force: false })).status;
    } catch (error) {
      status = (error as { code?: string }).code ?? "E_INTERNAL";
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    server.requests.length = 0; // the test server's own log lives in this heap too
    await writeDaemonInfo(config.state_dir, {
      pid: process.pid,
      started_at: "2026-11-26T00:00:00.000Z",
      cron: config.schedule.cron,
      timezone: config.schedule.timezone,
      splay_s: 0,
      phase_s: 0,
      next_check: new Date().toISOString(),
    });
    if (cycle === WARM)
      warm = {
        censusPath: await heapCensus(root, "warm"),
        handles: process.getActiveResourcesInfo().length,
      };
    if (cycle === MID) midPath = await heapCensus(root, "mid");
  }
  const endHandles = process.getActiveResourcesInfo().length;
  const endPath = await heapCensus(root, "end");
  assert.ok(warm);
  const before = await loadCensus(warm.censusPath);
  const end = { census: await loadCensus(endPath), handles: endHandles };
  const growth = totalBytes(end.census) - totalBytes(before);
  const perCycle = growth / (CYCLES - WARM);
  const objects = totalCount(end.census) - totalCount(before);
  process.stdout.write(
    `# memory: JS heap ${(totalBytes(before) / 2 ** 20).toFixed(2)} MiB at cycle ${WARM}, ${(totalBytes(end.census) / 2 ** 20).toFixed(2)} MiB at cycle ${CYCLES} (${perCycle.toFixed(1)} B/cycle), ${objects >= 0 ? "+" : ""}${objects} objects; handles ${warm.handles} -> ${end.handles}; ${JSON.stringify(Object.fromEntries(statuses))}; most: ${topGrowth(before, end.census, 5).join("; ")}\n`,
  );
  // the cycles really ran both paths
  assert.equal(statuses.get("up_to_date"), CYCLES - CYCLES / 5);
  assert.equal(statuses.get("E_HTTP_STATUS"), CYCLES / 5);
  assert.ok(
    objects < (CYCLES - WARM) / 10,
    `${objects} more live objects after ${CYCLES - WARM} cycles; most: ${topGrowth(before, end.census).join("; ")}`,
  );
  const mid = await loadCensus(midPath);
  const halves = [
    (totalBytes(mid) - totalBytes(before)) / (MID - WARM),
    (totalBytes(end.census) - totalBytes(mid)) / (CYCLES - MID),
  ];
  assert.ok(
    perCycle < 400 || halves.some((bytes) => bytes < 100),
    `JS heap grew ${growth} B over ${CYCLES - WARM} cycles (${halves.map((b) => b.toFixed(0)).join(" and ")} B/cycle in each half); most: ${topGrowth(before, end.census).join("; ")}`,
  );
  assert.ok(end.handles <= warm.handles, `live handles ${warm.handles} -> ${end.handles}`);
});
