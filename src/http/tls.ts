/**
 * The mTLS identity shared by feed fetches and report POSTs: one undici
 * Agent with the private CA, this host's certificate, and the name to check.
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

export interface HttpClientOptions {
  /** Connect timeout and idle-read timeout, in milliseconds. */
  timeoutMs: number;
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

/** An undici Agent presenting our client certificate and trusting only `ca`. */
export async function createHttpAgent(tls: TlsFiles, options: HttpClientOptions): Promise<Agent> {
  const [ca, cert, key] = await Promise.all([
    readPem(tls.ca, `${tls.keyPrefix}.ca`),
    readPem(tls.cert, `${tls.keyPrefix}.cert`),
    readPem(tls.key, `${tls.keyPrefix}.key`),
  ]);
  return new Agent({
    connectTimeout: options.timeoutMs,
    headersTimeout: options.timeoutMs,
    // bodyTimeout is undici's idle timeout between body chunks; the overall
    // deadline of each request bounds a server that dribbles bytes.
    bodyTimeout: options.timeoutMs,
    connect: {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(tls.serverName ? { servername: tls.serverName } : {}),
      rejectUnauthorized: true,
    },
  });
}
