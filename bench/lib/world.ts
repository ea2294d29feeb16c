/**
 * One master and any number of hosts on this machine, for the benchmarks:
 * a CA with server and client certificates (openssl), a signing key, a feed
 * folder filled by `publish` and served over mTLS, and host configs that run
 * the fixture DECNET agent in process mode, with the defaults an operator
 * gets except where a benchmark says otherwise.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { publishRelease } from "../../src/feed/publish.js";
import { type TomlTables, writeToml } from "../../test/helpers/config.js";
import { agentCommand, OFFLINE_INSTALL } from "../../test/helpers/e2e.js";
import { makeSigner, type Signer } from "../../test/helpers/feed.js";
import { makePki, type Pki } from "../../test/helpers/pki.js";
import { freePort } from "../../test/helpers/release.js";
import { type FeedServer, startFeedServer } from "./feed-server.js";
import { type RunResult, runMeasured } from "./measure.js";

/** The built program, as hosts run it (npm run build first). */
export const CLI = resolve(import.meta.dirname, "../../dist/src/cli/main.js");

export interface World {
  root: string;
  pki: Pki;
  signer: Signer;
  feedDir: string;
  feed: FeedServer;
  close(): Promise<void>;
}

/** `base`: where the world's folders go (hosts' install and state dirs too); the system's temp dir by default. */
export async function makeWorld(prefix: string, base = tmpdir()): Promise<World> {
  const root = await mkdtemp(join(base, prefix));
  const pki = makePki(root);
  const signer = await makeSigner(root);
  const feedDir = join(root, "feed");
  await mkdir(feedDir);
  const feed = await startFeedServer(pki, feedDir);
  return {
    root,
    pki,
    signer,
    feedDir,
    feed,
    close: async () => {
      await feed.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export async function publish(
  world: World,
  tarball: string,
  version: string,
  sha: string,
): Promise<void> {
  await publishRelease({
    feedDir: world.feedDir,
    tarball,
    version,
    sha,
    keyFile: world.signer.keyFile,
    latest: true,
    rolloutPercent: 100,
    expiresInS: 86400,
    now: new Date(),
  });
}

export interface BenchHost {
  dir: string;
  installDir: string;
  stateDir: string;
  configFile: string;
  port: number;
}

/** A host polling the world's feed; `extra` tables are merged over the defaults. */
export async function writeBenchHost(
  world: World,
  name: string,
  extra: Record<string, Record<string, unknown>> = {},
): Promise<BenchHost> {
  const dir = join(world.root, name);
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const installDir = join(dir, "opt/decnet");
  const stateDir = join(dir, "var/lib/decnet-updater");
  const { pki } = world;
  const tables: Record<string, Record<string, unknown>> = {
    feed: {
      url: `${world.feed.url}/`,
      ca: pki.ca,
      cert: pki.client.cert,
      key: pki.client.key,
      trusted_keys: [world.signer.pubLine],
      report_url: `${world.feed.url}/reports`,
    },
    install: { command: OFFLINE_INSTALL, path_symlink: "" },
    units: { dir: join(dir, "etc/systemd/system") },
    restart: { mode: "process", command: agentCommand(pki, port, "{install_dir}") },
    probe: {
      url: `https://127.0.0.1:${port}/health`,
      ca: pki.ca,
      cert: pki.client.cert,
      key: pki.client.key,
      soak_s: 1,
    },
    // a benchmark host updates many times in a row; the default budget of 4 a day would hold it
    limits: { max_updates_per_day: 1000 },
    log: { level: "info" },
  };
  for (const [table, values] of Object.entries(extra))
    tables[table] = { ...(tables[table] ?? {}), ...values };
  const configFile = await writeToml(dir, "updater.toml", {
    host_id: name,
    install_dir: installDir,
    state_dir: stateDir,
    ...(tables as TomlTables),
  });
  return { dir, installDir, stateDir, configFile, port };
}

/**
 * Runs the built CLI against a host's config, measuring wall time and peak
 * RSS. It is executed as hosts run it, through its shebang line (which
 * gives Node no flag, src/cli/main.ts).
 */
export function runCli(host: BenchHost, args: string[]): Promise<RunResult> {
  return runMeasured([CLI, ...args, "--config", host.configFile]);
}

export interface LogLine {
  time: number;
  msg: string;
  [key: string]: unknown;
}

/** The JSON log lines a run wrote on stderr. */
export function logLines(stderr: string): LogLine[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}
