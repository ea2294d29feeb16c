/**
 * A whole host for end-to-end tests: a feed served over mTLS, an install
 * dir, a config whose restart.command starts the fixture agent on a free
 * port with the test PKI, and helpers to ask that agent who it is.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { writeToml } from "./config.js";
import type { Signer } from "./feed.js";
import type { Pki } from "./pki.js";
import { freePort } from "./release.js";

/** install.command for the fixture releases: pip from the release's own wheels, no index. */
export const OFFLINE_INSTALL = [
  "{venv}/bin/python",
  "-m",
  "pip",
  "install",
  "--isolated",
  "--no-index",
  "--find-links",
  "{release}/wheels",
  "decnet",
];

export interface Host {
  dir: string;
  installDir: string;
  stateDir: string;
  unitsDir: string;
  pathLink: string;
  configFile: string;
  port: number;
}

export async function writeHostConfig(
  dir: string,
  pki: Pki,
  signer: Pick<Signer, "pubLine">,
  feedUrl: string,
  options: {
    mode?: "process" | "systemd";
    reportUrl?: string;
    /** The host's id and its own client certificate (default: "e2e-host", the PKI's client). */
    hostId?: string;
    client?: { cert: string; key: string };
    /** More keys of the [feed] table (extra replaces whole tables). */
    feed?: Record<string, unknown>;
    extra?: Record<string, Record<string, unknown>>;
  } = {},
): Promise<Host> {
  const client = options.client ?? pki.client;
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const installDir = join(dir, "opt/decnet");
  const stateDir = join(dir, "var/lib/decnet-updater");
  const unitsDir = join(dir, "etc/systemd/system");
  const pathLink = join(dir, "usr/local/bin/decnet");
  const configFile = await writeToml(dir, "updater.toml", {
    host_id: options.hostId ?? "e2e-host",
    install_dir: installDir,
    state_dir: stateDir,
    feed: {
      url: feedUrl,
      ca: pki.ca,
      cert: client.cert,
      key: client.key,
      trusted_keys: [signer.pubLine],
      timeout_s: 5,
      ...(options.reportUrl ? { report_url: options.reportUrl } : {}),
      ...(options.feed ?? {}),
    },
    install: {
      command: OFFLINE_INSTALL,
      path_symlink: pathLink,
      timeout_s: 120,
    },
    units: { dir: unitsDir },
    restart: {
      mode: options.mode ?? "process",
      command: agentCommand(pki, port, "{install_dir}"),
      optional_units: [],
      stop_grace_s: 5,
    },
    probe: {
      url: `https://127.0.0.1:${port}/health`,
      ca: pki.ca,
      cert: pki.client.cert,
      key: pki.client.key,
      attempts: 60,
      backoff_s: 0.2,
      soak_s: 0.6,
    },
    // one host goes through many updates in a test; the default budget of 4 a day would hold it
    limits: { max_updates_per_day: 1000 },
    log: { level: "warn" },
    ...((options.extra ?? {}) as Record<string, Record<string, string>>),
  });
  return { dir, installDir, stateDir, unitsDir, pathLink, configFile, port };
}

export function agentCommand(pki: Pki, port: number, installDir: string): string[] {
  return [
    `${installDir}/venv/bin/decnet`,
    "agent",
    "--daemon",
    "--port",
    String(port),
    "--cert",
    pki.server.cert,
    "--key",
    pki.server.key,
    "--ca",
    pki.ca,
  ];
}

export interface Health {
  status: string;
  sha: string;
  version: string;
  helper: boolean;
  pid: number;
}

/** What the running agent says about itself, or null when nothing answers. */
export function health(pki: Pki, port: number): Promise<Health | null> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/health",
        ca: readFileSync(pki.ca),
        cert: readFileSync(pki.client.cert),
        key: readFileSync(pki.client.key),
        timeout: 3000,
      },
      (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => {
          try {
            resolve(res.statusCode === 200 ? (JSON.parse(body) as Health) : null);
          } catch {
            resolve(null);
          }
        });
      },
    );
    req.on("error", () => resolve(null));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** Kills the agent a test started (its pid file), so no fixture outlives the test. */
export async function killAgent(installDir: string): Promise<void> {
  const pid = Number(
    (await readFile(join(installDir, "agent.pid"), "utf8").catch(() => "")).trim(),
  );
  if (pid > 0) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
