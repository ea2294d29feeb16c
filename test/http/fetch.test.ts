import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fetchFeed } from "../../src/feed/fetch.js";
import { createHttpClient, type HttpClient } from "../../src/http/tls.js";
import {
  type Handler,
  startMtlsServer,
  staticFiles,
  type TestServer,
} from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";

let pki: Pki;
let otherPki: Pki;
const servers: TestServer[] = [];
const clients: HttpClient[] = [];

let pkiDir: string;

before(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), "du-pki-"));
  pki = makePki(pkiDir);
  otherPki = makePki(pkiDir, "other-ca");
});
after(async () => {
  await rm(pkiDir, { recursive: true, force: true });
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(
  handler: Handler,
  options?: Parameters<typeof startMtlsServer>[2],
): Promise<TestServer> {
  const server = await startMtlsServer(pki, handler, options);
  servers.push(server);
  return server;
}

async function agent(
  overrides: {
    cert?: { cert: string; key: string } | null;
    serverName?: string;
    timeoutMs?: number;
  } = {},
) {
  const cert = overrides.cert === undefined ? pki.client : overrides.cert;
  const client = await createHttpClient(
    {
      ca: pki.ca,
      cert: cert?.cert,
      key: cert?.key,
      serverName: overrides.serverName,
      keyPrefix: "feed",
    },
    { timeoutMs: overrides.timeoutMs ?? 2000 },
  );
  clients.push(client);
  return client;
}

const manifestFiles = () =>
  new Map([
    ["/feed/manifest.json", Buffer.from('{"serial":1}')],
    ["/feed/manifest.json.minisig", Buffer.from("sig")],
  ]);

async function fetchFrom(
  url: string,
  options: {
    etag?: string | null;
    maxBytes?: number;
    deadlineMs?: number;
    client?: HttpClient;
  } = {},
) {
  return fetchFeed({
    client: options.client ?? (await agent()),
    feedUrl: `${url}/feed`,
    maxManifestBytes: options.maxBytes ?? 1024,
    deadlineMs: options.deadlineMs ?? 5000,
    etag: options.etag ?? null,
  });
}

function expectCode(code: string, message: RegExp) {
  return (error: Error & { code?: string }) => {
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("\n"));
    return true;
  };
}

describe("feed fetch over mTLS", () => {
  test("fetches the manifest and its signature with our client certificate", async () => {
    const server = await serve(staticFiles(manifestFiles()));
    const result = await fetchFrom(server.url);
    assert.equal(result.kind, "fetched");
    if (result.kind !== "fetched") return;
    assert.equal(result.manifest.toString(), '{"serial":1}');
    assert.equal(result.signature, "sig");
    assert.match(result.etag ?? "", /^"/);
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ["/feed/manifest.json", "/feed/manifest.json.minisig"],
    );
  });

  test("a matching ETag costs one request answered 304 and no signature download", async () => {
    const server = await serve(staticFiles(manifestFiles()));
    const first = await fetchFrom(server.url);
    assert.equal(first.kind, "fetched");
    const second = await fetchFrom(server.url, {
      etag: first.kind === "fetched" ? first.etag : null,
    });
    assert.equal(second.kind, "not-modified");
    assert.equal(server.requests.length, 3);
    assert.equal(
      server.requests[2]?.headers["if-none-match"],
      first.kind === "fetched" ? first.etag : "",
    );
  });

  test("a master certificate from another CA is refused as untrusted", async () => {
    const server = await serve(staticFiles(manifestFiles()), { cert: otherPki.server });
    await assert.rejects(
      fetchFrom(server.url),
      expectCode(
        "E_TLS_SERVER",
        /manifest https:\/\/127\.0\.0\.1:\d+\/feed\/manifest\.json: the master's certificate is not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/,
      ),
    );
  });

  test("a master certificate for another name is refused", async () => {
    const server = await serve(staticFiles(manifestFiles()));
    const client = await agent({ serverName: "master.other.example" });
    await assert.rejects(
      fetchFrom(server.url, { client }),
      expectCode("E_TLS_SERVER", /not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)$/),
    );
  });

  test("our client certificate from another CA is refused by the master", async () => {
    const server = await serve(staticFiles(manifestFiles()));
    const client = await agent({ cert: otherPki.client });
    await assert.rejects(
      fetchFrom(server.url, { client }),
      expectCode(
        "E_TLS_CLIENT",
        /the master refused our client certificate \(it closes the connection right after the TLS handshake\)$/,
      ),
    );
  });

  test("no client certificate at all is refused by the master", async () => {
    const server = await serve(staticFiles(manifestFiles()));
    const client = await agent({ cert: null });
    await assert.rejects(
      fetchFrom(server.url, { client }),
      expectCode(
        "E_TLS_CLIENT",
        /the master refused our client certificate \(it closes the connection right after the TLS handshake\)$/,
      ),
    );
  });

  test("a server that hangs up after reading the request is a network error, not a certificate refusal", async () => {
    const server = await serve((req) => req.socket.destroy());
    await assert.rejects(
      fetchFrom(server.url),
      expectCode("E_NETWORK", /manifest .*: UND_ERR_SOCKET: other side closed$/),
    );
  });

  test("a server that dribbles one byte at a time is cut off at the deadline", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-length": 1000 });
      const timer = setInterval(() => res.write("x"), 200);
      res.on("close", () => clearInterval(timer));
    });
    const started = Date.now();
    await assert.rejects(
      fetchFrom(server.url, { deadlineMs: 1500 }),
      expectCode("E_TIMEOUT", /manifest .*: timed out/),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1400 && elapsed < 4000, `gave up after ${elapsed} ms`);
  });

  test("a server that never answers hits the idle timeout", async () => {
    const server = await serve(() => undefined);
    const client = await agent({ timeoutMs: 500 });
    await assert.rejects(
      fetchFrom(server.url, { client }),
      expectCode("E_TIMEOUT", /timed out \(UND_ERR_HEADERS_TIMEOUT\)$/),
    );
  });

  test("a manifest larger than the limit is refused unread (Content-Length)", async () => {
    const big = Buffer.alloc(4096, 0x20);
    const server = await serve(staticFiles(new Map([["/feed/manifest.json", big]])));
    await assert.rejects(
      fetchFrom(server.url),
      expectCode("E_TOO_LARGE", /larger than 1024 bytes \(Content-Length 4096\)$/),
    );
  });

  test("a manifest larger than the limit is refused while streaming (no Content-Length)", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200);
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(1024, 0x20));
      res.end();
    });
    await assert.rejects(
      fetchFrom(server.url),
      expectCode("E_TOO_LARGE", /larger than 1024 bytes \(\d+ bytes read\)$/),
    );
  });

  test("an HTTP error status is named", async () => {
    const server = await serve((_req, res) => res.writeHead(503).end("busy"));
    await assert.rejects(
      fetchFrom(server.url),
      expectCode(
        "E_HTTP_STATUS",
        /manifest https:\/\/127\.0\.0\.1:\d+\/feed\/manifest\.json: HTTP 503$/,
      ),
    );
  });

  test("a redirect to another origin is refused and the other origin sees no request", async () => {
    const elsewhere = await serve(staticFiles(manifestFiles()));
    const server = await serve((_req, res) =>
      res.writeHead(302, { location: `${elsewhere.url}/feed/manifest.json` }).end(),
    );
    await assert.rejects(
      fetchFrom(server.url),
      expectCode(
        "E_REDIRECT",
        /redirect to another origin refused \(https:\/\/127\.0\.0\.1:\d+\)$/,
      ),
    );
    assert.equal(elsewhere.requests.length, 0);
  });

  test("a redirect within the same origin is followed", async () => {
    const files = new Map([
      ["/v2/manifest.json", Buffer.from("{}")],
      ["/v2/manifest.json.minisig", Buffer.from("sig")],
    ]);
    const serveFiles = staticFiles(files);
    const server = await serve((req, res) => {
      if (req.url === "/feed/manifest.json")
        res.writeHead(301, { location: "/v2/manifest.json" }).end();
      else serveFiles(req, res);
    });
    const result = await fetchFrom(server.url);
    assert.equal(result.kind === "fetched" && result.signature, "sig");
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ["/feed/manifest.json", "/v2/manifest.json", "/v2/manifest.json.minisig"],
    );
  });
});
