/**
 * Feeds for tests: a signing key made at run time, manifests signed with it
 * (any bytes, so hostile documents can carry a valid signature), an install
 * dir with an active release, and a config pointing the agent at a server.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { keygen } from "../../src/signing/keygen.js";
import { parseSecretKey, type SecretKey, signData } from "../../src/signing/secret-key.js";
import { type TomlTables, writeToml } from "./config.js";
import type { Pki } from "./pki.js";

export interface Signer {
  secretKey: SecretKey;
  keyFile: string;
  pubFile: string;
  /** The base64 line for feed.trusted_keys. */
  pubLine: string;
}

export async function makeSigner(dir: string): Promise<Signer> {
  const { keyFile, pubFile, publicKey } = await keygen(dir);
  return {
    secretKey: parseSecretKey(readFileSync(keyFile, "utf8"), keyFile),
    keyFile,
    pubFile,
    pubLine: publicKey,
  };
}

export interface ReleaseEntry {
  version: string;
  sha: string;
  url: string;
  sha256: string;
  size: number;
  [extra: string]: unknown;
}

export function release(
  version: string,
  sha: string,
  extra: Record<string, unknown> = {},
): ReleaseEntry {
  return {
    version,
    sha,
    url: `decnet-${version}.tar.gz`,
    sha256: "ab".repeat(32),
    size: 1234,
    ...extra,
  };
}

export function manifestDoc(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    schema: 1,
    channel: "stable",
    serial: 10,
    issued_at: new Date(now - 60_000).toISOString(),
    expires: new Date(now + 7 * 86_400_000).toISOString(),
    latest: "1.1.0",
    releases: [release("1.0.0", "1000000aaaa"), release("1.1.0", "1100000bbbb")],
    ...overrides,
  };
}

/** manifest.json and its signature under `prefix`, signed over the exact bytes. */
export function signedFeed(signer: Signer, doc: unknown, prefix = "/feed"): Map<string, Buffer> {
  const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
  const signature = signData(signer.secretKey, bytes, "timestamp:1\tfile:manifest.json");
  return new Map([
    [`${prefix}/manifest.json`, bytes],
    [`${prefix}/manifest.json.minisig`, Buffer.from(signature)],
  ]);
}

/** An install dir whose active slot runs `sha` (version `version`). */
export async function installActive(
  installDir: string,
  sha: string,
  version: string,
): Promise<void> {
  const active = join(installDir, "releases/active");
  await mkdir(active, { recursive: true });
  await writeFile(
    join(active, ".decnet-release.json"),
    JSON.stringify({ sha, version, installed_at: "2026-11-01T00:00:00Z" }),
  );
  await writeFile(join(active, "README"), "the live release\n");
}

export interface AgentDirs {
  dir: string;
  installDir: string;
  stateDir: string;
  configFile: string;
}

/** A config file for an agent that polls `feedUrl` with the test PKI and signer. */
export async function writeAgentConfig(
  dir: string,
  pki: Pki,
  signer: Signer,
  feedUrl: string,
  extra: TomlTables = {},
): Promise<AgentDirs> {
  const installDir = join(dir, "opt/decnet");
  const stateDir = join(dir, "var/lib/decnet-updater");
  const { feed: feedExtra, ...rest } = extra as { feed?: Record<string, never> } & TomlTables;
  const configFile = await writeToml(dir, "updater.toml", {
    host_id: "test-host",
    install_dir: installDir,
    state_dir: stateDir,
    feed: {
      url: feedUrl,
      ca: pki.ca,
      cert: pki.client.cert,
      key: pki.client.key,
      trusted_keys: [signer.pubLine],
      timeout_s: 2,
      ...(feedExtra ?? {}),
    },
    log: { level: "silent" },
    ...rest,
  });
  return { dir, installDir, stateDir, configFile };
}

export async function loadAgentConfig(dirs: AgentDirs): Promise<Config> {
  return loadConfig(dirs.configFile);
}

/** A host that runs 1.0.0 as a real one would (`current` -> releases/active), with a probe bundle. */
export async function runningHost(
  dir: string,
  pki: Pki,
  signer: Signer,
  feedUrl: string,
  extra: TomlTables = {},
): Promise<AgentDirs> {
  const dirs = await writeAgentConfig(dir, pki, signer, feedUrl, {
    probe: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    ...extra,
  });
  await installActive(dirs.installDir, "1000000aaaa", "1.0.0");
  await symlink("releases/active", join(dirs.installDir, "current"));
  return dirs;
}

/**
 * A signed feed (under /feed) whose latest release, 2.0.0, is `tarball`,
 * listed with its true sha256 and size: a hostile tarball that passes every
 * check before extraction.
 */
export function feedOfTarball(
  signer: Signer,
  tarball: Buffer,
  options: { serial?: number; sha?: string } = {},
): Map<string, Buffer> {
  const feed = signedFeed(
    signer,
    manifestDoc({
      serial: options.serial ?? 10,
      latest: "2.0.0",
      releases: [
        release("1.0.0", "1000000aaaa"),
        release("2.0.0", options.sha ?? "2000000bbbb", {
          sha256: createHash("sha256").update(tarball).digest("hex"),
          size: tarball.length,
        }),
      ],
    }),
  );
  feed.set("/feed/decnet-2.0.0.tar.gz", tarball);
  return feed;
}
