/**
 * Soak (opt-in: `npm run soak`; SOAK_CYCLES=N to change the default 1000).
 * A real `decnet-updater run` with a one-second cron runs N cycles against a
 * local mTLS feed while the master churns: a new release every 100 cycles, a
 * broken one (rolled back) half way, the feed answering 503 now and then and
 * the report endpoint 500 for stretches. The daemon's RSS is sampled from
 * /proc every second.
 *
 * Passes when: the daemon ran N cycles and exits 0 on SIGTERM; every release
 * was installed (the broken one rolled back and then skipped); every report
 * reached the master exactly once (no id twice, nothing left in the outbox);
 * RSS in the last fifth of the run is within noise of the second fifth.
 * About 21 minutes for 1000 cycles on 2 cores (a cycle that finds nothing new takes about 1 s, so the one-second cron fires every other tick).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO } from "../helpers/cli.js";
import { type Host, health, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import { startMtlsServer, staticDir, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec } from "../helpers/release.js";

const CYCLES = Number(process.env.SOAK_CYCLES ?? 1000);
const RELEASE_EVERY = Math.max(20, Math.floor(CYCLES / 10));
const BROKEN_AT = Math.floor(CYCLES / 2) + 7;

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let host: Host;
let feedDown = false;
let reportsDown = false;
const received = new Map<string, { status: string; version: string | null; count: number }>();

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-soak-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  await mkdir(join(root, "feed"));
  const feed = staticDir(join(root, "feed"));
  server = await startMtlsServer(pki, (req, res) => {
    if (req.method === "POST") {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        if (reportsDown) return res.writeHead(500).end();
        const report = JSON.parse(body) as {
          id: string;
          status: string;
          to: { version: string } | null;
        };
        const seen = received.get(report.id);
        if (seen) seen.count++;
        else
          received.set(report.id, {
            status: report.status,
            version: report.to?.version ?? null,
            count: 1,
          });
        res.writeHead(seen ? 409 : 201).end();
      });
      return;
    }
    if (feedDown) return res.writeHead(503).end();
    feed(req, res);
  });
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`, {
    reportUrl: `${server.url}/reports`,
    extra: {
      schedule: { cron: "* * * * * *", splay_s: 0, run_on_start: true },
      retry: { failed_release: "never" },
      log: { level: "info" },
    },
  });
});
after(async () => {
  if (host) await killAgent(host.installDir);
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

function rssKiB(pid: number): Promise<number | null> {
  return readFile(`/proc/${pid}/status`, "utf8").then(
    (text) => Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? Number.NaN),
    () => null,
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

test(`the daemon through ${CYCLES} cycles with churn`, {
  skip: PYTHON_SKIP,
  timeout: CYCLES * 5000,
}, async () => {
  let version = 0;
  const publish = async (health: "ok" | "broken") => {
    version++;
    await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
      version: `${version}.0.0`,
      sha: version.toString(16).padStart(8, "0").repeat(5),
      health,
    });
  };
  await publish("ok");

  const daemon = spawn(
    process.execPath,
    ["--import", "tsx", resolve(REPO, "src/cli/main.ts"), "run", "--config", host.configFile],
    { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] },
  );
  let cycles = 0;
  let tail = "";
  daemon.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-20_000);
    cycles += (chunk.match(/"msg":"Cycle (ended|failed|skipped)/g) ?? []).length;
  });
  const exited = new Promise<number | null>((r) => daemon.on("exit", (code) => r(code)));
  const rss: Array<{ cycle: number; kib: number }> = [];
  const published: Array<{ version: string; broken: boolean }> = [
    { version: "1.0.0", broken: false },
  ];
  let nextRelease = RELEASE_EVERY;
  let brokenDone = false;
  const started = Date.now();
  try {
    while (cycles < CYCLES) {
      await sleep(1000);
      const kib = await rssKiB(daemon.pid as number);
      if (kib !== null) rss.push({ cycle: cycles, kib });
      // churn: short feed outages, long report outages, releases; calm for the last 5%
      const calm = cycles > CYCLES * 0.95;
      feedDown = !calm && cycles % 37 === 5;
      reportsDown = !calm && cycles % 150 >= 100;
      if (!brokenDone && cycles >= BROKEN_AT) {
        brokenDone = true;
        await publish("broken");
        published.push({ version: `${version}.0.0`, broken: true });
      } else if (cycles >= nextRelease && cycles < CYCLES * 0.9) {
        nextRelease += RELEASE_EVERY;
        await publish("ok");
        published.push({ version: `${version}.0.0`, broken: false });
      }
      if (daemon.exitCode !== null) assert.fail(`daemon exited ${daemon.exitCode}:\n${tail}`);
      if (Date.now() - started > CYCLES * 4000)
        assert.fail(`only ${cycles} cycles in ${(Date.now() - started) / 1000} s`);
    }
    feedDown = false;
    reportsDown = false;
    await sleep(3000); // a calm cycle or two flushes the outbox
  } finally {
    daemon.kill("SIGTERM");
  }
  assert.equal(await exited, 0, tail);

  // RSS: the second fifth (warm) against the last fifth
  const fifth = Math.floor(rss.length / 5);
  const warm = median(rss.slice(fifth, 2 * fifth).map((s) => s.kib));
  const late = median(rss.slice(-fifth).map((s) => s.kib));
  process.stdout.write(
    `# soak: ${cycles} cycles in ${((Date.now() - started) / 1000).toFixed(0)} s; RSS median ${(warm / 1024).toFixed(1)} MiB (2nd fifth) -> ${(late / 1024).toFixed(1)} MiB (last fifth); ${published.length} releases; ${received.size} reports\n`,
  );
  assert.ok(late <= warm * 1.1 + 8 * 1024, `RSS grew from ${warm} KiB to ${late} KiB`);

  // every report arrived exactly once, nothing waits in the outbox
  for (const [id, r] of received) assert.equal(r.count, 1, `report ${id} arrived ${r.count} times`);
  assert.deepEqual(await readdir(join(host.stateDir, "outbox")), []);
  // every good release was installed and reported; the broken one rolled back, then skipped once
  const statuses = [...received.values()];
  for (const release of published) {
    const about = statuses.filter((r) => r.version === release.version).map((r) => r.status);
    if (release.broken) {
      // a feed outage may also fail its download once before the rollback
      assert.ok(
        about.includes("rolled_back") && !about.includes("updated"),
        `${release.version}: ${about.join(", ")}`,
      );
      assert.ok(
        about.filter((s) => s === "skipped").length <= 1,
        `${release.version}: ${about.join(", ")}`,
      );
    } else assert.ok(about.includes("updated"), `${release.version}: ${about.join(", ")}`);
  }
  const last = published.filter((r) => !r.broken).at(-1);
  assert.equal((await health(pki, host.port))?.version, last?.version);
});
