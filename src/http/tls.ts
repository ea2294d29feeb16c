/**
 * The mTLS identity shared by feed fetches and report POSTs: the private CA,
 * this host's certificate and key, and the name to check, loaded once and
 * used by one undici Agent.
 *
 * TLS sessions are kept for the life of the process and offered again on the
 * next connection to the same server with the same identity: a daemon's
 * checks then resume the session instead of a full handshake, which leaves
 * out both certificate chains and signatures (4.3 KiB -> 1.7 KiB on the wire
 * for a 304, and less CPU). undici's own session cache holds sessions by
 * WeakRef, so they are gone by the next check 15 minutes later. A server
 * resumes only while its ticket lifetime covers the interval
 * (config/nginx-feed.conf: ssl_session_timeout).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import type { buildConnector as Connector } from "undici";
import { oneLine, UpdaterError } from "../errors.js";
import { Agent, buildConnector } from "./undici.js";

export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  /** Name checked against the server's certificate; default: the URL's host. */
  serverName?: string | undefined;
  /** Config key prefix for error messages, e.g. "feed". */
  keyPrefix: string;
}

export interface TlsIdentity {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

export interface HttpClient {
  dispatcher: Agent;
  identity: TlsIdentity;
  /** Connect timeout and idle-read timeout, in milliseconds. */
  timeoutMs: number;
  close(): Promise<void>;
}

async function readPem(path: string | undefined, key: string): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? oneLine(error);
    throw new UpdaterError("E_CONFIG", `${key} ${path}: cannot read the file (${code})`, {
      cause: error,
    });
  }
}

export async function loadTlsIdentity(files: TlsFiles): Promise<TlsIdentity> {
  const [ca, cert, key] = await Promise.all([
    readPem(files.ca, `${files.keyPrefix}.ca`),
    readPem(files.cert, `${files.keyPrefix}.cert`),
    readPem(files.key, `${files.keyPrefix}.key`),
  ]);
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(files.serverName ? { servername: files.serverName } : {}),
  };
}

/** Sessions by identity and server; a handful of servers at most (feed, reports, probe). */
const sessions = new Map<string, Buffer>();
const MAX_SESSIONS = 16;

function rememberSession(key: string, session: Buffer): void {
  sessions.delete(key);
  sessions.set(key, session);
  if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
}

/** What a session may be offered again for: the same trust, certificate, key and name. */
function identityKey(identity: TlsIdentity): string {
  const hash = createHash("sha256");
  for (const part of [identity.ca, identity.cert, identity.key]) {
    hash.update(part ?? "-");
    hash.update("\0");
  }
  hash.update(identity.servername ?? "");
  return hash.digest("hex");
}

/**
 * One SecureContext per identity for the life of the process: building one
 * parses the CA, certificate and key each time, a third of a daemon check's
 * CPU (bench/idle-cycle.ts). The files are still read every cycle, and a
 * changed file makes a new identity key and so a new context.
 */
const contexts = new Map<string, SecureContext>();

function secureContextFor(idKey: string, identity: TlsIdentity): SecureContext {
  let context = contexts.get(idKey);
  if (!context) {
    context = createSecureContext({ ca: identity.ca, cert: identity.cert, key: identity.key });
    contexts.set(idKey, context);
    if (contexts.size > MAX_SESSIONS) contexts.delete(contexts.keys().next().value as string);
  }
  return context;
}

/** undici's TLS connector, offering this process's last session for the same identity and server. */
function resumingConnector(identity: TlsIdentity, timeoutMs: number): Connector.connector {
  const idKey = identityKey(identity);
  const secureContext = secureContextFor(idKey, identity);
  return (options, callback) => {
    const key = `${idKey}|${options.hostname}:${options.port}|${options.servername ?? ""}`;
    const connect = buildConnector({
      secureContext,
      ...(identity.servername ? { servername: identity.servername } : {}),
      rejectUnauthorized: true,
      timeout: timeoutMs,
      session: sessions.get(key),
    } as Connector.BuildOptions);
    connect(options, (error, socket) => {
      // TLS 1.3 tickets arrive after the handshake; keep the newest
      (socket as TLSSocket | null)?.on("session", (session: Buffer) =>
        rememberSession(key, session),
      );
      (callback as (error: Error | null, socket: unknown) => void)(error, socket);
    });
  };
}

/** An HTTP client presenting our client certificate and trusting only `ca`. */
export async function createHttpClient(
  files: TlsFiles,
  options: { timeoutMs: number },
): Promise<HttpClient> {
  const identity = await loadTlsIdentity(files);
  const dispatcher = new Agent({
    headersTimeout: options.timeoutMs,
    // bodyTimeout is undici's idle timeout between body chunks; the overall
    // deadline of each request bounds a server that dribbles bytes.
    bodyTimeout: options.timeoutMs,
    connect: resumingConnector(identity, options.timeoutMs),
  });
  return { dispatcher, identity, timeoutMs: options.timeoutMs, close: () => dispatcher.close() };
}
