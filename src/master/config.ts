/**
 * The receiver's configuration (`/etc/decnet/receiver.toml`, or
 * `--config`), read by `receive`, `fleet` and `rollout`. A TOML file of
 * its own: the hosts' config schema is not the master's, and a host never
 * loads this. Every refusal is one line: file, key, expected, found.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "smol-toml";
import { describe } from "../config/describe.js";
import { parseDurationSeconds } from "../config/duration.js";
import { oneLine, UpdaterError } from "../errors.js";
import { type StoreLocation, sqlitePathIn } from "./store/open.js";

export const DEFAULT_RECEIVER_CONFIG = "/etc/decnet/receiver.toml";

/** How a client certificate names the host it may report for. */
export type IdentityFrom = "cn" | "dns-san";

export interface ReceiverConfig {
  file: string;
  /**
   * A TCP address, or (behind a proxy) a unix socket: its file's
   * permissions, not an address, then say who may pass identities.
   */
  listen: { host: string; port: number } | { path: string };
  stateDir: string;
  identity: IdentityFrom;
  staleAfterS: number;
  /** mTLS itself; absent: behind a proxy that passes the client's identity. */
  tls: { cert: string; key: string; clientCa: string } | null;
  /** Addresses a proxy may connect from; required without [tls]. */
  trustedProxies: string[];
  store: StoreLocation;
  /** `GET /fleet` and `GET /metrics`, plain HTTP; null: not served. */
  view: { host: string; port: number } | null;
  headerTimeoutMs: number;
  requestTimeoutMs: number;
}

type Table = Record<string, unknown>;

function fail(file: string, key: string, expected: string, found: unknown): never {
  // the words of the host's config errors (config/validate.ts)
  const shown = describe(found);
  throw new UpdaterError(
    "E_CONFIG",
    `config ${file}: key ${key}: expected ${expected}, found ${shown}`,
  );
}

const KNOWN: Record<string, string[]> = {
  "": [
    "listen",
    "state_dir",
    "identity",
    "stale",
    "header_timeout_s",
    "request_timeout_s",
    "tls",
    "proxy",
    "store",
    "view",
  ],
  tls: ["cert", "key", "client_ca"],
  proxy: ["trusted"],
  store: ["url"],
  view: ["listen"],
};

function checkKeys(file: string, table: Table, section: string): void {
  for (const key of Object.keys(table))
    if (!(KNOWN[section] ?? []).includes(key))
      throw new UpdaterError(
        "E_CONFIG",
        `config ${file}: key ${section ? `${section}.${key}` : key}: expected one of ${(KNOWN[section] ?? []).join(", ")}, found an unknown key`,
      );
}

export function parseListen(
  file: string,
  key: string,
  value: unknown,
): { host: string; port: number } {
  const match =
    typeof value === "string" ? /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(value) : null;
  const port = Number(match?.[2]);
  if (!match || port > 65535)
    return fail(file, key, 'an address and port like "127.0.0.1:8081"', value);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ""), port };
}

function socketPath(file: string, value: string): { path: string } {
  const path = value.slice("unix:".length);
  if (!isAbsolute(path) || path.length > 100)
    return fail(
      file,
      "listen",
      'an absolute socket path like "unix:/run/decnet-updater-receiver/receiver.sock"',
      value,
    );
  return { path };
}

function section(file: string, doc: Table, name: string): Table | undefined {
  const value = doc[name];
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail(file, name, "a table", value);
  checkKeys(file, value as Table, name);
  return value as Table;
}

function path(file: string, key: string, value: unknown): string {
  if (typeof value !== "string" || value === "") return fail(file, key, "a file path", value);
  return isAbsolute(value) ? value : resolve(dirname(file), value);
}

function seconds(file: string, key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0))
    return fail(file, key, "a number of seconds > 0", value);
  return value;
}

export function parseReceiverConfig(file: string, text: string): ReceiverConfig {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (error) {
    throw new UpdaterError("E_CONFIG", `config ${file}: not TOML (${oneLine(error)})`);
  }
  checkKeys(file, doc, "");
  const tlsTable = section(file, doc, "tls");
  const proxyTable = section(file, doc, "proxy");
  const storeTable = section(file, doc, "store");
  const viewTable = section(file, doc, "view");
  const stateDir =
    doc.state_dir === undefined
      ? "/var/lib/decnet-updater-receiver"
      : path(file, "state_dir", doc.state_dir);
  const identity = doc.identity ?? "cn";
  if (identity !== "cn" && identity !== "dns-san")
    fail(file, "identity", '"cn" or "dns-san"', identity);
  const stale = doc.stale ?? "1d";
  const staleAfterS = typeof stale === "string" ? parseDurationSeconds(stale) : undefined;
  if (staleAfterS === undefined) fail(file, "stale", 'a duration like "1d" or "12h"', stale);
  const tls = tlsTable
    ? {
        cert: path(file, "tls.cert", tlsTable.cert),
        key: path(file, "tls.key", tlsTable.key),
        clientCa: path(file, "tls.client_ca", tlsTable.client_ca),
      }
    : null;
  const trusted = proxyTable?.trusted ?? [];
  if (!Array.isArray(trusted) || trusted.some((a) => typeof a !== "string" || isIP(a) === 0))
    fail(file, "proxy.trusted", "a list of IP addresses", trusted);
  const rawListen = doc.listen ?? (tls ? "0.0.0.0:8443" : "127.0.0.1:8081");
  const onSocket = typeof rawListen === "string" && rawListen.startsWith("unix:");
  if (onSocket && tls)
    fail(
      file,
      "listen",
      'an address and port with [tls] ("unix:" is for behind a proxy)',
      rawListen,
    );
  if (onSocket && (trusted as unknown[]).length > 0)
    fail(
      file,
      "proxy.trusted",
      'nothing with listen = "unix:...": the socket\'s permissions say who may connect',
      trusted,
    );
  if (!tls && !onSocket && (trusted as unknown[]).length === 0)
    fail(
      file,
      "proxy.trusted",
      "the proxy's addresses (or a [tls] table: the receiver does mTLS itself)",
      undefined,
    );
  if (tls && (trusted as unknown[]).length > 0)
    fail(
      file,
      "proxy.trusted",
      "nothing when [tls] is set (mTLS itself: there is no proxy to trust)",
      trusted,
    );
  const url = storeTable?.url;
  if (url !== undefined && (typeof url !== "string" || !/^postgres(ql)?:\/\/./.test(url)))
    if (typeof url !== "string")
      fail(file, "store.url", 'a "postgres://" URL (absent: SQLite in state_dir)', url);
    // never the URL itself: it may hold a password
    else
      throw new UpdaterError(
        "E_CONFIG",
        `config ${file}: key store.url: expected a "postgres://" URL (absent: SQLite in state_dir), found one of scheme ${JSON.stringify(url.split(":")[0]?.slice(0, 20))}`,
      );
  const view =
    viewTable?.listen === undefined
      ? { host: "127.0.0.1", port: 9309 }
      : viewTable.listen === ""
        ? null
        : parseListen(file, "view.listen", viewTable.listen);
  return {
    file,
    listen: onSocket
      ? socketPath(file, rawListen as string)
      : parseListen(file, "listen", rawListen),
    stateDir,
    identity,
    staleAfterS,
    tls,
    trustedProxies: trusted as string[],
    store: { url: url as string | undefined, sqlitePath: sqlitePathIn(stateDir) },
    view,
    headerTimeoutMs: seconds(file, "header_timeout_s", doc.header_timeout_s, 10) * 1000,
    requestTimeoutMs: seconds(file, "request_timeout_s", doc.request_timeout_s, 30) * 1000,
  };
}

export async function loadReceiverConfig(file: string): Promise<ReceiverConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UpdaterError(
      "E_CONFIG",
      `config ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`,
    );
  }
  return parseReceiverConfig(file, text);
}
