/**
 * A DECNET host inside a real systemd machine (machine.ts), set up the way
 * an operator does it: the updater's own release tarball (`release:pack`)
 * installed by the commands of the README's "Install on a host", read out of
 * README.md itself, so a wrong step fails here; the certificates, key and
 * configuration of its steps 2 to 4; the shipped unit files.
 *
 * On the host side, a "master": the app's feed and the updater's feed made
 * by `publish`, served over mTLS on 127.0.0.1 (the machine shares the host
 * network), and a report receiver. DECNET's fixture releases carry their
 * own decnet-agent.service, so restarts go through systemd
 * (`restart.mode` at its default, "auto").
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { publishRelease } from "../../../src/feed/publish.js";
import { type TomlTables, toToml } from "../config.js";
import { OFFLINE_INSTALL } from "../e2e.js";
import { makeSigner, type Signer } from "../feed.js";
import { startMtlsServer, staticDir, type TestServer, withReports } from "../mtls-server.js";
import { makePki, type Pki } from "../pki.js";
import { buildReleaseTarball, freePort, type ReleaseSpec } from "../release.js";
import { Machine } from "./machine.js";

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../../..");

/** A report as the master receives it (SPEC section 6). */
export interface Report {
  id: string;
  status: string;
  component?: string;
  manual?: boolean;
  from: { sha: string; version: string } | null;
  to: { sha: string; version: string } | null;
  error: string | null;
  steps: Array<{ name: string; ms: number; ok: boolean }>;
}

export interface Master {
  root: string;
  pki: Pki;
  signer: Signer;
  appFeed: string;
  updaterFeed: string;
  server: TestServer;
  reports: Report[];
  /** Waits for a report that `match` accepts (polled), or throws with the reports seen. */
  report(what: string, match: (report: Report) => boolean, timeoutMs?: number): Promise<Report>;
  close(): Promise<void>;
}

export async function startMaster(root: string): Promise<Master> {
  await mkdir(join(root, "pki"), { recursive: true });
  const pki = makePki(join(root, "pki"));
  const signer = await makeSigner(root);
  const feeds = join(root, "feeds");
  const appFeed = join(feeds, "app");
  const updaterFeed = join(feeds, "updater");
  await mkdir(appFeed, { recursive: true });
  await mkdir(updaterFeed, { recursive: true });
  const { reports, handler } = withReports<Report>(staticDir(feeds));
  const server = await startMtlsServer(pki, handler);
  return {
    root,
    pki,
    signer,
    appFeed,
    updaterFeed,
    server,
    reports,
    async report(what, match, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = reports.find(match);
        if (found) return found;
        if (Date.now() > deadline)
          throw new Error(
            `no report ${what} in ${timeoutMs} ms; received: ${JSON.stringify(reports.map((r) => [r.status, r.to?.version, r.error]))}`,
          );
        await sleep(100);
      }
    },
    close: () => server.close(),
  };
}

/** The files release:pack reads: a change to any of them makes a new pack. */
const PACK_INPUTS = [
  "src",
  "systemd",
  "launcher",
  "config/updater.example.toml",
  "scripts/release-pack.ts",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
];

async function treeHash(): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (path: string): Promise<void> => {
    const full = join(REPO, path);
    if (!existsSync(full)) return;
    const entries = await readdir(full, { withFileTypes: true }).catch(() => null);
    if (entries === null) {
      hash.update(`${path}\0`).update(await readFile(full));
      return;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name)))
      await walk(relative(REPO, join(full, entry.name)));
  };
  for (const input of PACK_INPUTS) await walk(input);
  return hash.digest("hex").slice(0, 16);
}

/**
 * The updater's release tarball of this working tree at `version`, built by
 * `npm run release:pack` once per tree and version: the test files of a run
 * share it (a pack takes about 12 s).
 */
export async function packUpdater(version: string): Promise<string> {
  const dir = join("/tmp/decnet-updater-packs", await treeHash());
  const tarball = join(dir, `decnet-updater-${version}.tar.gz`);
  if (existsSync(tarball)) return tarball;
  const work = join(dir, `.build-${process.pid}-${version}`);
  await mkdir(work, { recursive: true });
  await execFileAsync(
    "npm",
    ["run", "--silent", "release:pack", "--", "--out", work, "--version", version],
    { cwd: REPO },
  );
  // Another test file may have built the same one meanwhile: the rename makes either complete.
  await rename(join(work, `decnet-updater-${version}.tar.gz`), tarball);
  await rm(work, { recursive: true, force: true });
  return tarball;
}

/**
 * The shell lines of one numbered step of the README's "Install on a host"
 * (its indented code), without the build machine's `npm` line.
 */
export async function readmeStep(step: number): Promise<string[]> {
  const readme = await readFile(join(REPO, "README.md"), "utf8");
  const section = readme.split("\n## Install on a host\n")[1]?.split("\n## ")[0] ?? "";
  const body = section.split(new RegExp(`\\n${step}\\. `))[1]?.split(/\n\d+\. /)[0] ?? "";
  const lines = body
    .split("\n")
    .filter((line) => /^ {7}/.test(line))
    .map((line) => line.slice(7));
  // join continuations ("\" at the end of a line)
  const commands: string[] = [];
  for (const line of lines) {
    const last = commands.length - 1;
    if (last >= 0 && (commands[last] as string).endsWith("\\"))
      commands[last] = `${(commands[last] as string).slice(0, -1)} ${line.trim()}`;
    else commands.push(line);
  }
  if (commands.length === 0)
    throw new Error(`README.md: no commands in step ${step} of "Install on a host"`);
  return commands.filter((command) => !command.startsWith("npm "));
}

/**
 * Step 1 of the README inside the machine: the program from its release
 * tarball, with the launcher as /usr/local/bin/decnet-updater. The tarball is
 * where the README's build leaves it, release/ of the working folder.
 */
export async function installProgram(machine: Machine, pack: string): Promise<void> {
  await mkdir(machine.path("/srv/build/release"), { recursive: true });
  await copyFile(pack, machine.path(`/srv/build/release/${pack.split("/").pop()}`));
  await machine.sh(`cd /srv/build\n${(await readmeStep(1)).join("\n")}`);
}

/** Step 5 of the README: the daemon's unit, enabled and started. */
export async function installDaemonUnit(machine: Machine): Promise<void> {
  await machine.sh((await readmeStep(5)).join("\n"), { timeoutMs: 120_000 });
}

export interface HostConfig {
  /** The fixture agent's port on 127.0.0.1 (its unit and the probe). */
  agentPort: number;
  /** More of the config, merged over the defaults below. */
  extra?: TomlTables;
}

/**
 * Steps 2 to 4: the host's certificate and key, the master's CA and signing
 * key, the configuration at /etc/decnet/updater.toml. The agent's own
 * certificates go to /etc/decnet/agent (the probe's defaults).
 */
export async function configureHost(
  machine: Machine,
  master: Master,
  config: HostConfig,
): Promise<void> {
  // between two boots too: then the files go to the machine's layer, for its next boot
  const at = (inside: string) => (machine.pid ? machine.path(inside) : machine.layerPath(inside));
  const put = async (inside: string, from: string, mode: number) => {
    await mkdir(at(inside.slice(0, inside.lastIndexOf("/"))), { recursive: true });
    await copyFile(from, at(inside));
    await chmod(at(inside), mode);
  };
  const { pki } = master;
  await put("/etc/decnet/updater/master-ca.crt", pki.ca, 0o644);
  await put("/etc/decnet/updater/host.crt", pki.client.cert, 0o644);
  await put("/etc/decnet/updater/host.key", pki.client.key, 0o600);
  await put("/etc/decnet/updater/minisign.pub", master.signer.pubFile, 0o644);
  await put("/etc/decnet/agent/ca.crt", pki.ca, 0o644);
  await put("/etc/decnet/agent/worker.crt", pki.client.cert, 0o644);
  await put("/etc/decnet/agent/worker.key", pki.client.key, 0o600);
  await put("/etc/decnet/agent/server.crt", pki.server.cert, 0o644);
  await put("/etc/decnet/agent/server.key", pki.server.key, 0o600);
  const base: TomlTables = {
    feed: {
      url: `${master.server.url}/app/`,
      report_url: `${master.server.url}/reports`,
      ca: "/etc/decnet/updater/master-ca.crt",
      cert: "/etc/decnet/updater/host.crt",
      key: "/etc/decnet/updater/host.key",
      trusted_keys: ["/etc/decnet/updater/minisign.pub"],
    },
    install: { command: OFFLINE_INSTALL },
    probe: { url: `https://127.0.0.1:${config.agentPort}/health`, soak_s: 1 },
    limits: { max_updates_per_day: 1000 },
  };
  const merged: TomlTables = { ...base };
  for (const [key, value] of Object.entries(config.extra ?? {})) {
    const old = merged[key];
    merged[key] =
      typeof value === "object" &&
      !Array.isArray(value) &&
      typeof old === "object" &&
      !Array.isArray(old)
        ? { ...old, ...value }
        : value;
  }
  await mkdir(at("/etc/decnet"), { recursive: true });
  await writeFile(at("/etc/decnet/updater.toml"), toToml(merged), { mode: 0o644 });
}

/** DECNET's agent unit as a release ships it: the fixture agent on `port`, restarted on failure. */
export function agentUnit(port: number): string {
  return [
    "[Unit]",
    "Description=DECNET agent (test fixture)",
    "",
    "[Service]",
    `ExecStart=/opt/decnet/venv/bin/decnet agent --port ${port} --cert /etc/decnet/agent/server.crt --key /etc/decnet/agent/server.key --ca /etc/decnet/agent/ca.crt`,
    "Restart=on-failure",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** Publishes a fixture DECNET release with its agent unit into the master's app feed. */
export async function publishApp(
  master: Master,
  spec: ReleaseSpec & { port: number },
  options: { latest?: boolean } = {},
): Promise<void> {
  const work = join(master.root, "builds");
  await mkdir(work, { recursive: true });
  const { port, ...release } = spec;
  const tarball = await buildReleaseTarball(work, {
    ...release,
    units: { "decnet-agent.service": agentUnit(port), ...release.units },
  });
  await publishRelease({
    feedDir: master.appFeed,
    tarball,
    version: spec.version,
    sha: spec.sha,
    keyFile: master.signer.keyFile,
    latest: options.latest ?? true,
    rolloutPercent: 100,
    expiresInS: 86400,
    now: new Date(),
  });
}

export { freePort };

/** A booted machine with the updater's program installed (step 1), its master, and the agent's port. */
export interface RealHost {
  root: string;
  master: Master;
  machine: Machine;
  port: number;
  /** Destroys the machine, closes the master, removes the folder. */
  destroy(): Promise<void>;
}

/** What every real-systemd test file starts from: a master, a machine booted, step 1 of the README done. */
export async function startRealHost(name: string): Promise<RealHost> {
  const root = await mkdtemp(`/tmp/decnet-updater-real-${name}-`);
  const master = await startMaster(root);
  const port = await freePort();
  const machine = await Machine.create();
  const destroy = async () => {
    await machine.destroy();
    await master.close();
    await rm(root, { recursive: true, force: true });
  };
  try {
    const pack = await packUpdater("9.0.0");
    await machine.boot();
    await installProgram(machine, pack);
  } catch (error) {
    await destroy();
    throw error;
  }
  return { root, master, machine, port, destroy };
}
