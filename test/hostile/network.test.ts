/**
 * A hostile or broken network, against real local servers (node:https and
 * plain TCP on 127.0.0.1:0). The cases that test/http/fetch.test.ts already
 * holds (another CA, another name, a client certificate from another CA or
 * none, a dribbling or silent server, oversized manifests, 5xx, cross-origin
 * redirects) and nginx's HTTP 400 (test/e2e/nginx-feed.test.ts) are not
 * repeated here; docs/security.md lists them all.
 *
 * Each case: the exact error code and message, nothing kept in downloads/,
 * the install dir as it was. The report case runs whole update cycles.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runCheck } from "../../src/agent/check.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import {
  type AgentDirs,
  feedOfTarball,
  loadAgentConfig,
  makeSigner,
  manifestDoc,
  release,
  runningHost,
  type Signer,
  signedFeed,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { snapshot } from "../helpers/snapshot.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

let root: string;
let pki: Pki;
let signer: Signer;
const servers: Array<{ close(): unknown }> = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-hostile-net-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
});
after(async () => {
  for (const server of servers) await server.close();
  await rm(root, { recursive: true, force: true });
});

let hosts = 0;
/** Hosts made by the running test: each ends on the trusted-tree property (issue 15). */
const made: AgentDirs[] = [];
afterEach(async () => {
  for (const dirs of made.splice(0)) await assertTrustedTree(dirs.installDir, dirs.stateDir);
});
async function host(feedUrl: string, extra: Record<string, unknown> = {}): Promise<AgentDirs> {
  const dir = join(root, `host-${hosts++}`);
  await mkdir(dir);
  const dirs = await runningHost(dir, pki, signer, feedUrl, extra as never);
  made.push(dirs);
  return dirs;
}

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: Parameters<typeof startMtlsServer>[2] = {},
): Promise<TestServer> {
  const server = await startMtlsServer(pki, handler, options);
  servers.push(server);
  return server;
}

/** What accepting a manifest changes: the highest serial and the stored manifest. */
async function acceptance(dirs: AgentDirs) {
  const state = JSON.parse(
    await readFile(join(dirs.stateDir, "state.json"), "utf8").catch(() => "{}"),
  ) as { highest_serial?: number | null };
  const stored = await readFile(join(dirs.stateDir, "manifest.json")).catch(() => null);
  return { serial: state.highest_serial ?? null, stored };
}

/** `check`, which must fail: the install dir and what was accepted stay as they were; the error is rethrown. */
async function check(dirs: AgentDirs) {
  const install = await snapshot(dirs.installDir);
  const accepted = await acceptance(dirs);
  try {
    return await runCheck(await loadAgentConfig(dirs), agentDeps());
  } finally {
    assert.deepEqual(await snapshot(dirs.installDir), install);
    assert.deepEqual(await acceptance(dirs), accepted);
  }
}

describe("the master's side of TLS", () => {
  for (const [name, validity, reason] of [
    [
      "an expired master certificate",
      { start: "20200101000000Z", end: "20200201000000Z" },
      "CERT_HAS_EXPIRED",
    ],
    [
      "a master certificate not valid yet",
      { start: "20990101000000Z", end: "20990201000000Z" },
      "CERT_NOT_YET_VALID",
    ],
  ] as const) {
    test(`${name} is refused as untrusted`, async () => {
      const cert = pki.issue(`master-${reason}`, { san: "IP:127.0.0.1", validity });
      const server = await serve(staticFiles(signedFeed(signer, manifestDoc())), { cert });
      const dirs = await host(`${server.url}/feed`);
      await assert.rejects(check(dirs), {
        code: "E_TLS_SERVER",
        message: `manifest ${server.url}/feed/manifest.json: the master's certificate is not trusted (${reason})`,
      });
      assert.equal(server.requests.length, 0);
    });
  }

  test("a master that offers only TLS 1.1 is refused, never downgraded to", async () => {
    const server = await serve(staticFiles(signedFeed(signer, manifestDoc())), {});
    await server.close();
    const { createServer } = await import("node:https");
    const old = createServer({
      ca: await readFile(pki.ca),
      cert: await readFile(pki.server.cert),
      key: await readFile(pki.server.key),
      maxVersion: "TLSv1.1",
      minVersion: "TLSv1",
      ciphers: "DEFAULT@SECLEVEL=0",
    });
    let requests = 0;
    old.on("request", () => requests++);
    await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve));
    servers.push({
      close: () =>
        new Promise((r) => {
          old.closeAllConnections();
          old.close(r);
        }),
    });
    const port = (old.address() as { port: number }).port;
    const dirs = await host(`https://127.0.0.1:${port}/feed`);
    await assert.rejects(check(dirs), (error: Error & { code?: string }) => {
      assert.equal(error.code, "E_NETWORK", error.message);
      assert.match(
        error.message,
        /^manifest https:\/\/127\.0\.0\.1:\d+\/feed\/manifest\.json: .*(protocol|version)/i,
      );
      return true;
    });
    assert.equal(requests, 0);
  });
});

describe("connections that go nowhere", () => {
  test("a TCP listener that never starts TLS (slow retrieval) times out", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const silent: TcpServer = createTcpServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    servers.push({
      close: () =>
        new Promise((r) => {
          for (const socket of sockets) socket.destroy();
          silent.close(r);
        }),
    });
    const port = (silent.address() as { port: number }).port;
    const dirs = await host(`https://127.0.0.1:${port}/feed`);
    const started = Date.now();
    await assert.rejects(check(dirs), {
      code: "E_TIMEOUT",
      message: new RegExp(
        `^manifest https://127\\.0\\.0\\.1:${port}/feed/manifest\\.json: timed out \\(`,
      ),
    });
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  });

  test("a host name that does not resolve is a DNS error", async () => {
    const dirs = await host("https://decnet-feed.invalid/feed");
    await assert.rejects(check(dirs), {
      code: "E_NETWORK",
      message: "manifest https://decnet-feed.invalid/feed/manifest.json: host name not found (DNS)",
    });
  });

  test("a port with nothing listening is connection refused", async () => {
    const probe: TcpServer = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const dirs = await host(`https://127.0.0.1:${port}/feed`);
    await assert.rejects(check(dirs), {
      code: "E_NETWORK",
      message: new RegExp(
        `^manifest https://127\\.0\\.0\\.1:${port}/feed/manifest\\.json: ECONNREFUSED: `,
      ),
    });
  });
});

describe("a tarball download that goes wrong", () => {
  const tarball = Buffer.alloc(64 * 1024, 7);

  /** A feed listing 2.0.0 (the true sha256 and size) whose tarball is served by `serveTarball`. */
  async function feedWith(serveTarball: (res: ServerResponse, req: IncomingMessage) => void) {
    const files = feedOfTarball(signer, tarball);
    const feed = staticFiles(files);
    return serve((req, res) =>
      req.url === "/feed/decnet-2.0.0.tar.gz" ? serveTarball(res, req) : feed(req, res),
    );
  }

  async function refusedDownload(
    serveTarball: (res: ServerResponse, req: IncomingMessage) => void,
    code: string,
    message: RegExp,
  ) {
    const server = await feedWith(serveTarball);
    const dirs = await host(`${server.url}/feed`, { feed: { timeout_s: 1 } });
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, code, result.error ?? "");
    assert.match(result.error ?? "", message);
    assert.equal(result.status, "failed");
    assert.deepEqual(
      result.steps.map((s) => `${s.name}:${s.ok}`),
      ["fetch:true", "preflight:true", "download:false"],
    );
    assert.deepEqual(await readdir(join(dirs.stateDir, "downloads")).catch(() => []), []);
    assert.deepEqual(await snapshot(dirs.installDir), install);
    return server;
  }

  test("an endless body is cut off at the manifest's size", async () => {
    let closed = false;
    await refusedDownload(
      (res, req) => {
        res.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024, 1);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once("drain", pump);
        };
        req.socket.on("close", () => {
          closed = true;
        });
        pump();
      },
      "E_TOO_LARGE",
      /^tarball https:\/\/127\.0\.0\.1:\d+\/feed\/decnet-2\.0\.0\.tar\.gz: larger than 65536 bytes \(\d+ bytes read\)$/,
    );
    for (let i = 0; i < 50 && !closed; i++) await sleep(20);
    assert.ok(closed, "the endless stream was not hung up on");
  });

  test("a connection cut half way (no TLS close) is a network error", async () => {
    await refusedDownload(
      (res, req) => {
        res.writeHead(200, { "content-length": tarball.length });
        res.write(tarball.subarray(0, tarball.length / 2), () => req.socket.destroy());
      },
      "E_NETWORK",
      /^tarball https:\/\/127\.0\.0\.1:\d+\/feed\/decnet-2\.0\.0\.tar\.gz: (ECONNRESET|UND_ERR_SOCKET): /,
    );
  });

  test("a 200 whose body is shorter than its Content-Length is a network error", async () => {
    await refusedDownload(
      (res) => {
        res.writeHead(200, { "content-length": tarball.length });
        res.write(tarball.subarray(0, 1000), () => res.socket?.end());
      },
      "E_NETWORK",
      /^tarball https:\/\/127\.0\.0\.1:\d+\/feed\/decnet-2\.0\.0\.tar\.gz: (UND_ERR_SOCKET|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|ECONNRESET): /,
    );
  });

  test("a tarball that answers 502 is named with its status", async () => {
    await refusedDownload(
      (res) => res.writeHead(502).end("bad gateway"),
      "E_HTTP_STATUS",
      /^tarball https:\/\/127\.0\.0\.1:\d+\/feed\/decnet-2\.0\.0\.tar\.gz: HTTP 502$/,
    );
  });

  test("a tarball dribbled one byte every 50 ms is cut off at its deadline", async () => {
    await refusedDownload(
      (res) => {
        res.writeHead(200, { "content-length": tarball.length });
        let at = 0;
        const timer = setInterval(() => {
          if (res.destroyed || at >= tarball.length) return clearInterval(timer);
          res.write(tarball.subarray(at, ++at));
        }, 50);
        res.on("close", () => clearInterval(timer));
      },
      "E_TIMEOUT",
      /^tarball https:\/\/127\.0\.0\.1:\d+\/feed\/decnet-2\.0\.0\.tar\.gz: timed out \(/,
    );
  });
});

describe("the report endpoint", () => {
  test("answering 500 for cycle after cycle loses nothing; every report arrives once, oldest first, when it heals", async () => {
    let healthy = false;
    const received: Array<{ id: string; to: { sha: string } | null; finished_at: string }> = [];
    let files = new Map<string, Buffer>();
    const server = await serve((req, res) => {
      if (req.method !== "POST") return staticFiles(files)(req, res);
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        if (!healthy) return res.writeHead(500).end();
        received.push(JSON.parse(body));
        res.writeHead(201).end();
      });
    });
    const dirs = await host(`${server.url}/feed`, {
      feed: { report_url: `${server.url}/reports` },
    });
    const config = await loadAgentConfig(dirs);
    // three cycles, each with a new release whose tarball is missing: three failed reports
    const shas = ["3000000aaaa", "3100000bbbb", "3200000cccc"];
    for (const [index, sha] of shas.entries()) {
      files = signedFeed(
        signer,
        manifestDoc({
          serial: 20 + index,
          latest: `3.${index}.0`,
          releases: [release("1.0.0", "1000000aaaa"), release(`3.${index}.0`, sha)],
        }),
      );
      const result = await runUpdate(config, agentDeps({ sleep: async () => undefined }), {
        force: false,
      });
      assert.equal(result.code, "E_HTTP_STATUS", result.error ?? "");
      assert.equal((await readdir(join(dirs.stateDir, "outbox"))).length, index + 1);
    }
    assert.equal(received.length, 0);

    healthy = true;
    await runUpdate(config, agentDeps(), { force: false });
    assert.deepEqual(
      received.slice(0, 3).map((r) => r.to?.sha),
      shas,
      "the three held reports, oldest first",
    );
    assert.equal(new Set(received.map((r) => r.id)).size, received.length, "no id twice");
    assert.deepEqual(await readdir(join(dirs.stateDir, "outbox")), []);
  });
});
