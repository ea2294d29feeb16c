/**
 * The master's figures (issue 18), each against a baseline in the same run:
 *
 * - ingest: reports per second through `decnet-updater receive` over mTLS,
 *   one connection per report as distinct hosts send them (TLS sessions
 *   resumed), beside the keep-alive figure, into SQLite and PostgreSQL, and
 *   behind nginx; the baseline is the bare insert rate of the same database
 *   (one report per transaction, as durability without group commit needs);
 * - query: `fleet` over 100,000 hosts and 1,000,000 reports, with the plan of
 *   each of its queries; the baseline is `node -e 0`;
 * - memory: the receiver's RSS along a long ingest (flat is the target).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  ATTEMPTS_BY_RELEASE,
  FAILING_HOSTS,
  fleetSummary,
  HOSTS_BY_RELEASE,
  hostReports,
  STALE_HOSTS,
} from "../src/master/fleet/summary.js";
import { checkReport } from "../src/master/report-schema.js";
import type { Database } from "../src/master/store/database.js";
import { openStore } from "../src/master/store/open.js";
import { type Incoming, insertReports } from "../src/master/store/reports.js";
import { findNginx, nginxServerBlock, startNginx } from "../test/helpers/nginx.js";
import { makePki, type Pki } from "../test/helpers/pki.js";
import { POSTGRES_SKIP, startPostgres } from "../test/helpers/postgres.js";
import { receiverToml } from "../test/helpers/receiver.js";
import { freePort } from "../test/helpers/release.js";
import { hostReport } from "../test/helpers/reports.js";
import { MiB, median, procCpuMs, procStatus, runMeasured, sleep } from "./lib/measure.js";
import { CLI } from "./lib/world.js";

const CACHE = resolve(import.meta.dirname, ".cache");
const HOSTS = 48;
const PARALLEL = 16;

/** The tests' report (test/helpers/reports.ts) with a DECNET-sized list of steps; one in 50 rolled back. */
function reportBody(host: string, i: number): string {
  const at = new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString();
  return JSON.stringify(
    hostReport({
      host_id: host,
      status: i % 50 === 0 ? "rolled_back" : "updated",
      finished_at: at,
      steps: ["fetch", "download", "verify", "extract", "install", "restart", "probe"].map(
        (name, n) => ({ name, ms: 30 + n * 300, ok: true }),
      ),
    }),
  );
}

interface Receiver {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The built program, as a master runs it; resolves once it listens. */
async function startReceiver(configFile: string): Promise<Receiver> {
  const child = spawn(process.execPath, [CLI, "receive", "--config", configFile], {
    env: { ...process.env, DECNET_UPDATER_LOG_LEVEL: "warn", DECNET_UPDATER_LOG_FORMAT: "json" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // info lines are off: listening shows as the port answering
  const config = readFileSync(configFile, "utf8");
  const port = Number(/^listen = "127\.0\.0\.1:(\d+)"/m.exec(config)?.[1]);
  const path = /^listen = "unix:([^"]+)"/m.exec(config)?.[1];
  const scheme = config.includes("[tls]") ? "https" : "http";
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`receive exited ${child.exitCode}`);
    const up = await new Promise<boolean>((done) => {
      const socket = connect(path ? { path } : { host: "127.0.0.1", port }, () => {
        socket.destroy();
        done(true);
      });
      socket.on("error", () => done(false));
    });
    if (up) break;
    await sleep(50);
  }
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
}

/** CPU the receiver process has used, ms. */
function receiverCpuMs(pid: number): number {
  return procCpuMs(pid) ?? 0;
}

interface Client {
  host: string;
  agent: Agent;
  cert: Buffer;
  key: Buffer;
}

function clients(pki: Pki, keepAlive: boolean): Client[] {
  // with keep-alive, one host per worker keeps its connection (HOSTS connections would exceed nginx's 64)
  return Array.from({ length: keepAlive ? PARALLEL : HOSTS }, (_, i) => {
    const host = `bench-host-${i}`;
    const files = issued.get(host) ?? pki.issue(host, { clientAuth: true });
    issued.set(host, files);
    return {
      host,
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      // keepAlive false: a connection per report; the agent still resumes TLS sessions
      agent: new Agent({ keepAlive, maxSockets: 1, maxCachedSessions: 4 }),
    };
  });
}
const issued = new Map<string, { cert: string; key: string }>();

function post(url: URL, client: Client, ca: Buffer, body: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: "/reports",
        method: "POST",
        agent: client.agent,
        ca,
        cert: client.cert,
        key: client.key,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
      },
    );
    req.on("error", fail);
    req.end(body);
  });
}

/** Sends `count` reports from the clients, PARALLEL at a time; reports/s, and whether all were 201. */
async function ingest(
  url: string,
  pki: Pki,
  keepAlive: boolean,
  count: number,
  onProgress?: (sent: number) => void,
): Promise<{ per_s: number; all_stored: boolean }> {
  const all = clients(pki, keepAlive);
  const ca = readFileSync(pki.ca);
  const target = new URL(url);
  let next = 0;
  let bad = 0;
  const errors: string[] = [];
  const started = performance.now();
  // each worker is one host at a time: with keep-alive, one connection per host
  const worker = async (w: number) => {
    let round = 0;
    while (next < count) {
      const i = next++;
      const client = all[(w + PARALLEL * round++) % all.length] as Client;
      const status = await post(target, client, ca, reportBody(client.host, i)).catch((error) => {
        errors.push(
          `${(error as NodeJS.ErrnoException).code ?? (error as Error).message} at report ${i}`,
        );
        return 0;
      });
      if (status !== 201) bad++;
      if (onProgress && i % 1000 === 0) onProgress(i);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, (_, w) => worker(w)));
  const seconds = (performance.now() - started) / 1000;
  for (const c of all) c.agent.destroy();
  if (errors.length)
    console.error(`  ${errors.length} request(s) failed: ${errors.slice(0, 3).join("; ")}`);
  return { per_s: Math.round(count / seconds), all_stored: bad === 0 };
}

function incoming(body: string): Incoming {
  const checked = checkReport(JSON.parse(body));
  if (!checked.ok) throw new Error(checked.why);
  return {
    report: checked.report,
    body,
    digest: createHash("sha256").update(body).digest("hex"),
    receivedAt: new Date().toISOString(),
  };
}

/** The same database's own rate: one report per transaction, each committed before the next. */
async function bareInserts(db: Database, count: number): Promise<number> {
  const items = Array.from({ length: count }, (_, i) =>
    incoming(reportBody(`bare-${i % HOSTS}`, i)),
  );
  const started = performance.now();
  for (const item of items) await insertReports(db, [item]);
  return Math.round(count / ((performance.now() - started) / 1000));
}

export interface IngestFigures {
  store: string;
  via: string;
  per_connection_per_s: number;
  keep_alive_per_s: number;
  /** The receiver process's own CPU per report (the load generator shares the machine's two cores). */
  receiver_cpu_ms_per_connection_report: number;
  receiver_cpu_ms_per_keep_alive_report: number;
  bare_insert_per_s: number;
  all_stored: boolean;
}

export interface TransportBaseline {
  per_connection_per_s: number;
  keep_alive_per_s: number;
  server_cpu_ms_per_connection_request: number;
  server_cpu_ms_per_keep_alive_request: number;
}

/** The same client against bench/drivers/bare-tls-server.mjs: the transport's own cost here. */
async function transportBaseline(pki: Pki, count: number): Promise<TransportBaseline> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      resolve(import.meta.dirname, "drivers/bare-tls-server.mjs"),
      pki.server.cert,
      pki.server.key,
      pki.ca,
    ],
    { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((done) => child.stdout?.once("data", () => done()));
  try {
    const url = `https://127.0.0.1:${port}`;
    const cpu0 = procCpuMs(child.pid as number) ?? 0;
    const perConnection = await ingest(url, pki, false, count);
    const cpu1 = procCpuMs(child.pid as number) ?? 0;
    const keepAlive = await ingest(url, pki, true, count);
    const cpu2 = procCpuMs(child.pid as number) ?? 0;
    return {
      per_connection_per_s: perConnection.per_s,
      keep_alive_per_s: keepAlive.per_s,
      server_cpu_ms_per_connection_request: Math.round(((cpu1 - cpu0) / count) * 100) / 100,
      server_cpu_ms_per_keep_alive_request: Math.round(((cpu2 - cpu1) / count) * 100) / 100,
    };
  } finally {
    child.kill("SIGTERM");
  }
}

export interface MasterResults {
  transport: TransportBaseline;
  ingest: IngestFigures[];
  query: {
    hosts: number;
    reports: number;
    build_s: number | null;
    summary_ms: number;
    host_ms: number;
    fleet_process_ms: number;
    node_start_ms: number;
    plans: Record<string, string[]>;
  };
  memory: {
    reports: number;
    rss_mib: number[];
    first_mib: number;
    last_mib: number;
    max_mib: number;
  };
}

async function ingestCase(
  root: string,
  pki: Pki,
  name: string,
  count: number,
  options: { storeUrl?: string; nginx?: boolean },
): Promise<IngestFigures> {
  const dir = await mkdtemp(join(root, `${name}-`));
  const port = await freePort();
  const mode = options.nginx ? "proxy" : "mtls";
  const config = join(dir, "receiver.toml");
  const storeUrl = options.storeUrl;
  // behind nginx on a unix socket, as the shipped config has it
  const socket = join(dir, "receiver.sock");
  await writeFile(
    config,
    receiverToml(dir, pki, {
      mode,
      listen: options.nginx ? `unix:${socket}` : `127.0.0.1:${port}`,
      noTrusted: options.nginx === true,
      ...(storeUrl ? { storeUrl } : {}),
    }).replace('[view]\nlisten = "127.0.0.1:0"', '[view]\nlisten = ""'),
  );
  const receiver = await startReceiver(config);
  let url = receiver.url;
  let nginx: { stop(): Promise<void> } | undefined;
  try {
    if (options.nginx) {
      const tool = findNginx();
      if (!tool) throw new Error("nginx not available: apt-get install nginx-light");
      const nginxPort = await freePort();
      const feedRoot = join(dir, "feed");
      await mkdir(feedRoot);
      const block = await nginxServerBlock({
        port: nginxPort,
        serverCert: pki.server.cert,
        serverKey: pki.server.key,
        clientCa: pki.ca,
        feedRoot,
        reportReceiverPort: socket,
      });
      nginx = await startNginx(tool, join(dir, "nginx"), block, nginxPort);
      url = `https://127.0.0.1:${nginxPort}`;
    }
    const cpu0 = receiverCpuMs(receiver.pid);
    const perConnection = await ingest(url, pki, false, count);
    const cpu1 = receiverCpuMs(receiver.pid);
    const keepAlive = await ingest(url, pki, true, count);
    const cpu2 = receiverCpuMs(receiver.pid);
    await receiver.stop();
    const db = await openStore(
      { ...(storeUrl ? { url: storeUrl } : {}), sqlitePath: join(dir, "state/reports.sqlite") },
      "receive",
    );
    const stored = Number(
      (await db.read.get<{ n: number | string }>("SELECT count(*) AS n FROM reports"))?.n,
    );
    const bare = await bareInserts(db, Math.min(count, 2000));
    await db.close();
    return {
      store: storeUrl ? "postgres" : "sqlite",
      via: options.nginx ? "nginx" : "mtls",
      per_connection_per_s: perConnection.per_s,
      keep_alive_per_s: keepAlive.per_s,
      receiver_cpu_ms_per_connection_report: Math.round(((cpu1 - cpu0) / count) * 100) / 100,
      receiver_cpu_ms_per_keep_alive_report: Math.round(((cpu2 - cpu1) / count) * 100) / 100,
      bare_insert_per_s: bare,
      all_stored: perConnection.all_stored && keepAlive.all_stored && stored === 2 * count,
    };
  } finally {
    await nginx?.stop();
    await receiver.stop();
  }
}

/** 100,000 hosts, 1,000,000 reports: ten releases, each host's updates, some failures, heartbeats. Cached. */
async function fleetDatabase(
  hosts: number,
  reports: number,
): Promise<{ path: string; build_s: number | null }> {
  const path = join(CACHE, `fleet-${hosts}-${reports}-v1.sqlite`);
  if (existsSync(path)) return { path, build_s: null };
  await mkdir(CACHE, { recursive: true });
  const building = `${path}.building`;
  await rm(building, { force: true });
  const started = performance.now();
  const db = await openStore({ sqlitePath: building }, "receive");
  const perHost = Math.ceil(reports / hosts);
  const t0 = Date.UTC(2026, 0, 1);
  let made = 0;
  let batch: Incoming[] = [];
  for (let round = 0; round < perHost && made < reports; round++) {
    for (let h = 0; h < hosts && made < reports; h++, made++) {
      const version = `1.${round}.0`;
      const sha = createHash("sha1").update(version).digest("hex");
      const from =
        round === 0
          ? null
          : {
              sha: createHash("sha1")
                .update(`1.${round - 1}.0`)
                .digest("hex"),
              version: `1.${round - 1}.0`,
            };
      const roll = (h * 7 + round * 13) % 100;
      const status =
        roll < 2 ? "rolled_back" : roll < 3 ? "failed" : roll < 20 ? "current" : "updated";
      const at = new Date(t0 + round * 86_400_000 + h * 1000).toISOString();
      const body = JSON.stringify({
        ...JSON.parse(reportBody(`host-${h}`, made)),
        status,
        from: status === "current" ? (from ?? null) : from,
        to: status === "current" ? null : { sha, version },
        started_at: at,
        finished_at: at,
        error:
          status === "updated" || status === "current" ? null : "probe: GET /health answered 500",
      });
      const item = incoming(body);
      item.receivedAt = at;
      batch.push(item);
      if (batch.length === 5000) {
        await insertReports(db, batch);
        batch = [];
      }
    }
  }
  if (batch.length) await insertReports(db, batch);
  await db.close();
  await rename(building, path);
  for (const suffix of ["-wal", "-shm"]) await rm(`${building}${suffix}`, { force: true });
  return { path, build_s: Math.round((performance.now() - started) / 1000) };
}

async function queryCase(
  root: string,
  hosts: number,
  reports: number,
): Promise<MasterResults["query"]> {
  const { path, build_s } = await fleetDatabase(hosts, reports);
  const db = await openStore({ sqlitePath: path }, "read");
  const now = new Date(Date.UTC(2026, 0, 12));
  try {
    await fleetSummary(db, now, 86400); // warm the page cache
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await fleetSummary(db, now, 86400);
      times.push(performance.now() - started);
    }
    const hostTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await hostReports(db, `host-${i * 997}`);
      hostTimes.push(performance.now() - started);
    }
    const staleBefore = new Date(now.getTime() - 86_400_000).toISOString();
    const plans: Record<string, string[]> = {
      attempts_by_release: await db.plan(ATTEMPTS_BY_RELEASE),
      hosts_by_release: await db.plan(HOSTS_BY_RELEASE),
      stale_hosts: await db.plan(STALE_HOSTS, [staleBefore, 50]),
      failing_hosts: await db.plan(FAILING_HOSTS, [50]),
      host_reports: await db.plan(
        "SELECT id, status, from_version, to_version, finished_at, received_at, error, body FROM reports WHERE host_id = ? ORDER BY finished_at DESC LIMIT ?",
        ["host-1", 20],
      ),
    };
    const config = join(await mkdtemp(join(root, "query-")), "receiver.toml");
    await writeFile(
      config,
      `[proxy]\ntrusted = ["127.0.0.1"]\nstate_dir = "${root}"\n`.replace(
        `state_dir = "${root}"`,
        "",
      ),
    );
    // the CLI reads the store the config names: point it at the cached file
    const stateDir = join(root, "query-state");
    await mkdir(stateDir, { recursive: true });
    await rm(join(stateDir, "reports.sqlite"), { force: true });
    await symlink(path, join(stateDir, "reports.sqlite"));
    await writeFile(config, `state_dir = "${stateDir}"\n[proxy]\ntrusted = ["127.0.0.1"]\n`);
    const fleetRuns: number[] = [];
    const nodeRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      fleetRuns.push(
        (await runMeasured([process.execPath, CLI, "fleet", "--json", "--config", config])).wallMs,
      );
      nodeRuns.push((await runMeasured([process.execPath, "-e", "0"])).wallMs);
    }
    return {
      hosts,
      reports,
      build_s,
      summary_ms: Math.round(median(times)),
      host_ms: Math.round(median(hostTimes) * 10) / 10,
      fleet_process_ms: Math.round(median(fleetRuns)),
      node_start_ms: Math.round(median(nodeRuns)),
      plans,
    };
  } finally {
    await db.close();
  }
}

export async function memoryCase(
  root: string,
  pki: Pki,
  count: number,
): Promise<MasterResults["memory"]> {
  const dir = await mkdtemp(join(root, "memory-"));
  const port = await freePort();
  const config = join(dir, "receiver.toml");
  await writeFile(
    config,
    receiverToml(dir, pki, { mode: "mtls" })
      .replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${port}"`)
      .replace('[view]\nlisten = "127.0.0.1:0"', '[view]\nlisten = ""'),
  );
  const receiver = await startReceiver(config);
  const rss: number[] = [];
  try {
    const step = Math.max(1000, Math.floor(count / 10));
    await ingest(receiver.url, pki, true, count, (sent) => {
      if (sent % step === 0)
        rss.push(Math.round(((procStatus(receiver.pid)?.rss ?? 0) / MiB) * 10) / 10);
    });
    rss.push(Math.round(((procStatus(receiver.pid)?.rss ?? 0) / MiB) * 10) / 10);
  } finally {
    await receiver.stop();
  }
  // the first sample is taken before the first batch: from the second on, after warm-up
  const settled = rss.slice(1);
  return {
    reports: count,
    rss_mib: rss,
    first_mib: settled[0] ?? 0,
    last_mib: settled.at(-1) ?? 0,
    max_mib: Math.max(...settled),
  };
}

export async function benchMaster(quick: boolean): Promise<MasterResults> {
  const root = await mkdtemp(join(tmpdir(), "du-bench-master-"));
  try {
    const pki = makePki(root);
    const count = quick ? 1000 : 10_000;
    const transport = await transportBaseline(pki, count);
    const ingestFigures: IngestFigures[] = [];
    ingestFigures.push(await ingestCase(root, pki, "sqlite", count, {}));
    ingestFigures.push(await ingestCase(root, pki, "sqlite-nginx", count, { nginx: true }));
    if (!POSTGRES_SKIP) {
      const pg = await startPostgres();
      try {
        ingestFigures.push(await ingestCase(root, pki, "postgres", count, { storeUrl: pg.url }));
      } finally {
        pg.stop();
      }
    }
    // quick: the full fleet of hosts, two reports each (the 1M-report store takes about two minutes to build)
    const query = await queryCase(root, 100_000, quick ? 200_000 : 1_000_000);
    const memory = await memoryCase(root, pki, quick ? 30_000 : 1_000_000);
    return { transport, ingest: ingestFigures, query, memory };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
