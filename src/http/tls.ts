/**
 * The mTLS identity shared by feed fetches and report POSTs: the private CA,
 * this host's certificate and key, and the name to check, loaded once and
 * used by one undici Agent.
 */
import { readFile } from "node:fs/promises";
import { Agent } from "undici";
import { oneLine, UpdaterError } from "../errors.js";

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

/** An HTTP client presenting our client certificate and trusting only `ca`. */
export async function createHttpClient(
  files: TlsFiles,
  options: { timeoutMs: number },
): Promise<HttpClient> {
  const identity = await loadTlsIdentity(files);
  const dispatcher = new Agent({
    connectTimeout: options.timeoutMs,
    headersTimeout: options.timeoutMs,
    // bodyTimeout is undici's idle timeout between body chunks; the overall
    // deadline of each request bounds a server that dribbles bytes.
    bodyTimeout: options.timeoutMs,
    connect: { ...identity, rejectUnauthorized: true },
  });
  return { dispatcher, identity, timeoutMs: options.timeoutMs, close: () => dispatcher.close() };
}
