/**
 * `decnet-updater receive`: the report receiver. One listener takes POST
 * /reports from the fleet (mTLS itself, or plain HTTP behind nginx from the
 * configured proxy addresses); a second one, on loopback by default, serves
 * the operator's views (GET /fleet, /fleet.json, /metrics). A host's
 * certificate is not an operator's, so the views are never on the fleet's
 * listener.
 */
import { chmod, lstat, readFile, unlink } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { oneLine } from "../errors.js";
import type { Logger } from "../log.js";
import type { ReceiverConfig } from "./config.js";
import { FLEET_PAGE_CSP, renderFleetHtml } from "./fleet/html.js";
import { renderFleetMetrics } from "./fleet/metrics.js";
import { fleetSummary } from "./fleet/summary.js";
import { answer, ingest } from "./ingest.js";
import type { Database } from "./store/database.js";
import { GroupCommit } from "./store/group-commit.js";
import { openStore } from "./store/open.js";

export interface RunningReceiver {
  /** The fleet's listener, e.g. "https://127.0.0.1:40123". */
  url: string;
  /** The views' listener, or null when view.listen = "". */
  viewUrl: string | null;
  db: Database;
  /** Stops taking connections, lets the requests in flight finish, closes the store. */
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Behind nginx on a unix socket: the one systemd made (decnet-updater-receiver.socket,
 * passed as fd 3, owned by root, group www-data, mode 0660, so that no other local
 * user can connect or take its place), else one of its own, mode 0660, in place
 * of a stale one. Who may connect is then the socket file's, not an address's.
 */
async function listenOnSocket(server: Server, path: string): Promise<void> {
  const passed = process.env.LISTEN_FDS === "1" && process.env.LISTEN_PID === String(process.pid);
  if (!passed) {
    const stale = await lstat(path).catch(() => null);
    if (stale?.isSocket()) await unlink(path);
    else if (stale) throw new Error(`listen: ${path} exists and is not a socket`);
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (passed) server.listen({ fd: 3 }, done);
    else server.listen(path, done);
  });
  // created under the receiver's umask (0077 in its unit): nobody else had it meanwhile
  if (!passed) await chmod(path, 0o660);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

function hostPart(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export async function startReceiver(
  config: ReceiverConfig,
  log: Logger,
  now: () => Date = () => new Date(),
): Promise<RunningReceiver> {
  const db = await openStore(config.store, "receive", (error) =>
    log.warn({ code: "E_STORE" }, `Store connection lost: ${oneLine(error)}`),
  );
  const commit = new GroupCommit(db);
  const context = {
    identity: config.identity,
    trustedProxies: config.tls
      ? null
      : "path" in config.listen
        ? ("socket" as const)
        : config.trustedProxies,
    commit,
    log,
    now,
  };
  const onReport = (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/reports")
      return answer(response, 404, `not found: ${path} (reports go to POST /reports)`);
    if (request.method !== "POST") {
      response.setHeader("allow", "POST");
      return answer(response, 405, `method ${request.method} not allowed: POST a report`);
    }
    ingest(request, response, context).catch((error) => {
      log.error({ code: "E_INTERNAL" }, `Report handler failed: ${oneLine(error)}`);
      answer(response, 500, "internal error; send it again later");
    });
  };
  const timeouts = {
    headersTimeout: config.headerTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    // How often Node looks for connections past those timeouts (30 s by default).
    connectionsCheckingInterval: Math.min(1000, config.headerTimeoutMs),
    keepAliveTimeout: 5000,
  };
  let server: Server;
  try {
    server = config.tls
      ? (createHttpsServer(
          {
            ...timeouts,
            cert: await readFile(config.tls.cert),
            key: await readFile(config.tls.key),
            ca: await readFile(config.tls.clientCa),
            requestCert: true,
            rejectUnauthorized: true,
            minVersion: "TLSv1.2",
            handshakeTimeout: config.headerTimeoutMs,
          },
          onReport,
        ) as unknown as Server)
      : createHttpServer(timeouts, onReport);
  } catch (error) {
    await db.close();
    throw error;
  }
  server.maxHeadersCount = 64;
  // Beyond this, new connections are dropped: a flood of idle sockets cannot exhaust descriptors.
  server.maxConnections = 4096;
  const where = config.listen;
  let url: string;
  try {
    if ("path" in where) {
      await listenOnSocket(server, where.path);
      url = `http://unix:${where.path}:`;
    } else {
      const port = await listen(server, where.host, where.port);
      url = `${config.tls ? "https" : "http"}://${hostPart(where.host)}:${port}`;
    }
  } catch (error) {
    await db.close();
    throw error;
  }

  let view: Server | null = null;
  const viewHosts = new Set<string>();
  const viewOnLoopback = config.view === null || isLoopback(config.view.host);
  let viewUrl: string | null = null;
  if (config.view) {
    view = createHttpServer(
      { headersTimeout: 10_000, requestTimeout: 30_000 },
      (request, response) => {
        const path = (request.url ?? "").split("?")[0];
        if (request.method !== "GET" && request.method !== "HEAD")
          return answer(response, 405, "GET only");
        // A page elsewhere in the operator's browser must not read this one through a DNS name
        // of its own that points at loopback (DNS rebinding): only this listener's own names.
        // Off loopback the operator chose to serve whoever reaches it (the warning at start).
        if (viewOnLoopback && !viewHosts.has(String(request.headers.host ?? "").toLowerCase()))
          return answer(
            response,
            421,
            `not this listener's name: ${JSON.stringify(request.headers.host ?? "")}`,
          );
        // the path first: a request for nothing must not cost the store a summary
        if (path !== "/metrics" && path !== "/fleet" && path !== "/fleet.json")
          return answer(response, 404, `not found: ${path} (try /fleet, /fleet.json or /metrics)`);
        const respond = async () => {
          const summary = await fleetSummary(db, now(), config.staleAfterS);
          if (path === "/metrics") {
            response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
            return response.end(renderFleetMetrics(summary));
          }
          if (path === "/fleet") {
            response.writeHead(200, {
              "content-type": "text/html; charset=utf-8",
              "content-security-policy": FLEET_PAGE_CSP,
              "x-content-type-options": "nosniff",
              "cache-control": "no-store",
            });
            return response.end(renderFleetHtml(summary));
          }
          // /fleet.json
          response.writeHead(200, { "content-type": "application/json" });
          return response.end(`${JSON.stringify(summary)}\n`);
        };
        respond().catch((error) => {
          log.error({ code: "E_STORE" }, `Fleet view failed: ${oneLine(error)}`);
          answer(response, 503, `the store cannot be read: ${oneLine(error)}`);
        });
      },
    );
    try {
      const viewPort = await listen(view, config.view.host, config.view.port);
      viewUrl = `http://${hostPart(config.view.host)}:${viewPort}`;
      for (const name of [hostPart(config.view.host), "localhost", "127.0.0.1", "[::1]"])
        viewHosts.add(`${name}:${viewPort}`.toLowerCase());
      if (!viewOnLoopback)
        log.warn(
          { view_url: viewUrl },
          `The fleet's page and metrics are served on ${viewUrl}, not on loopback: anyone who reaches it reads the fleet (no authentication).`,
        );
    } catch (error) {
      await closeServer(server);
      await db.close();
      throw error;
    }
  }
  log.info(
    { url, view_url: viewUrl, store: db.where, mode: config.tls ? "mtls" : "proxy" },
    `Receiving reports at ${url}/reports (${config.tls ? "mTLS" : "path" in where ? "behind a proxy, on a unix socket" : `behind a proxy at ${config.trustedProxies.join(", ")}`}); store ${db.kind} ${db.where}.`,
  );
  return {
    url,
    viewUrl,
    db,
    async close() {
      await Promise.all([closeServer(server), view ? closeServer(view) : Promise.resolve()]);
      await db.close();
    },
  };
}
