/**
 * A real HTTPS server on 127.0.0.1, port 0, that requires a client
 * certificate from the test CA, like the master's feed behind nginx.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Pki } from "./pki.js";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  url: string;
  port: number;
  server: Server;
  /** Every request seen: method, path and headers. */
  requests: Array<{ method: string; path: string; headers: IncomingMessage["headers"] }>;
  close(): Promise<void>;
}

export async function startMtlsServer(
  pki: Pki,
  handler: Handler,
  options: { cert?: { cert: string; key: string }; requestCert?: boolean } = {},
): Promise<TestServer> {
  const certFiles = options.cert ?? pki.server;
  const requests: TestServer["requests"] = [];
  const server = createServer(
    {
      ca: readFileSync(pki.ca),
      cert: readFileSync(certFiles.cert),
      key: readFileSync(certFiles.key),
      requestCert: options.requestCert ?? true,
      rejectUnauthorized: options.requestCert ?? true,
    },
    (req, res) => {
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
      handler(req, res);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    server,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves a map of path -> bytes with strong ETags and If-None-Match support. */
export function staticFiles(files: Map<string, Buffer>): Handler {
  return serve((path) => files.get(path));
}

/** Serves the files of a folder (a feed made by `publish`) under "/". */
export function staticDir(dir: string): Handler {
  return serve((path) => {
    if (path.includes("..")) return undefined;
    try {
      return readFileSync(join(dir, path));
    } catch {
      return undefined;
    }
  });
}

function serve(lookup: (path: string) => Buffer | undefined): Handler {
  return (req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0] as string);
    const body = lookup(path);
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    const etag = `"${body.length}-${hash(body)}"`;
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, { etag, "content-length": body.length }).end(body);
  };
}

function hash(bytes: Buffer): string {
  let h = 0;
  for (const byte of bytes) h = (h * 31 + byte) >>> 0;
  return h.toString(16);
}

/** A report endpoint: POSTs are parsed, kept in `reports` and answered 200; anything else goes to `fallback`. */
export function withReports<T = Record<string, unknown>>(
  fallback: Handler,
  reports: T[] = [],
): { reports: T[]; handler: Handler } {
  const handler: Handler = (req, res) => {
    if (req.method !== "POST") return fallback(req, res);
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      reports.push(JSON.parse(body) as T);
      res.writeHead(200).end();
    });
  };
  return { reports, handler };
}
