/**
 * The master's feed for the benchmarks: static files from a folder, streamed
 * from disk (a 1 GiB tarball is never held in memory) over mTLS, with ETags
 * and If-None-Match like nginx, and a count of the bytes every connection
 * put on the wire (TLS records included), read off the TCP socket.
 */
import { createReadStream, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join, normalize } from "node:path";
import type { Pki } from "../../test/helpers/pki.js";

export interface FeedServer {
  url: string;
  server: Server;
  /** Bytes read plus written on every TCP connection closed so far. */
  wireBytes(): number;
  /** Requests answered, by status code. */
  statuses: Map<number, number>;
  /** POST bodies (reports). */
  posts: string[];
  close(): Promise<void>;
}

export async function startFeedServer(pki: Pki, dir: string): Promise<FeedServer> {
  const statuses = new Map<number, number>();
  const posts: string[] = [];
  let closedBytes = 0;
  const open = new Set<Socket>();
  const server = createServer(
    {
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.server.cert),
      key: readFileSync(pki.server.key),
      requestCert: true,
      rejectUnauthorized: true,
      // tickets that outlive a 15-minute poll, like config/nginx-feed.conf's ssl_session_timeout 1h
      sessionTimeout: 3600,
    },
    (req, res) => {
      const count = (code: number) => statuses.set(code, (statuses.get(code) ?? 0) + 1);
      if (req.method === "POST") {
        let body = "";
        req.on("data", (chunk) => {
          body += chunk;
        });
        req.on("end", () => {
          posts.push(body);
          count(200);
          res.writeHead(200).end();
        });
        return;
      }
      const path = normalize(decodeURIComponent((req.url ?? "/").split("?")[0] as string));
      let size: number;
      let etag: string;
      const file = join(dir, path);
      try {
        const stats = statSync(file);
        if (!stats.isFile() || path.includes("..")) throw new Error("not a file");
        size = stats.size;
        etag = `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
      } catch {
        count(404);
        res.writeHead(404).end();
        return;
      }
      if (req.headers["if-none-match"] === etag) {
        count(304);
        res.writeHead(304, { etag }).end();
        return;
      }
      count(200);
      res.writeHead(200, { etag, "content-length": size });
      createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(res);
    },
  );
  server.on("connection", (socket: Socket) => {
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      closedBytes += socket.bytesRead + socket.bytesWritten;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    server,
    statuses,
    posts,
    wireBytes: () =>
      closedBytes + [...open].reduce((sum, s) => sum + s.bytesRead + s.bytesWritten, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
