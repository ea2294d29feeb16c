/**
 * The feed as a master would serve it: Debian's nginx with the shipped
 * config/nginx-feed.conf (ssl_verify_client on), started in the foreground on
 * a loopback port. A host installs a release through it, an idle poll is one
 * 304, reports reach the receiver behind nginx with the client certificate's
 * subject, and a host whose certificate nginx refuses gets E_TLS_CLIENT and
 * changes nothing.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { boundedGet } from "../../src/http/get.js";
import { createHttpClient } from "../../src/http/tls.js";
import { runCli } from "../helpers/cli.js";
import type { DebianTool } from "../helpers/debian-tool.js";
import { type Host, health, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import {
  accessLog,
  findNginx,
  NGINX_SKIP,
  nginxServerBlock,
  type RunningNginx,
  sessionsResumed,
  startNginx,
} from "../helpers/nginx.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { freePort, publishSpec } from "../helpers/release.js";
import { snapshot } from "../helpers/snapshot.js";

const SHA1 = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/** The published tarball's path on the feed (its name carries a digest of its bytes). */
async function tarballPath(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(feedRoot, "manifest.json"), "utf8"));
  return `/${manifest.releases[0].url}`;
}
const nginxTool: DebianTool | undefined = PYTHON_SKIP ? undefined : findNginx();
const SKIP = PYTHON_SKIP || (nginxTool ? false : NGINX_SKIP);

interface Received {
  subject: string | undefined;
  verify: string | undefined;
  report: { id: string; status: string; host_id: string; to: { sha: string } | null };
}

let root: string;
let pki: Pki;
let signer: Signer;
let nginx: RunningNginx;
let receiver: Server;
let host: Host;
let port: number;
let feedRoot: string;
const received: Received[] = [];

/** The master's report receiver behind nginx: 201 for a new id, 409 for one it has. */
function startReceiver(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const report = JSON.parse(body) as Received["report"];
      const duplicate = received.some((r) => r.report.id === report.id);
      if (!duplicate)
        received.push({
          subject: req.headers["x-client-subject"] as string | undefined,
          verify: req.headers["x-client-verify"] as string | undefined,
          report,
        });
      res.writeHead(duplicate ? 409 : 201).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : 0 });
    }),
  );
}

/** The status nginx answers a trusted host's request with. */
function statusOf(method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method,
        agent: false, // one connection per request: nginx does not read a refused body
        ca: readFileSync(pki.ca),
        cert: readFileSync(pki.client.cert),
        key: readFileSync(pki.client.key),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(method === "GET" ? undefined : "{}");
  });
}

before(async () => {
  if (SKIP || !nginxTool) return;
  root = await mkdtemp(join(tmpdir(), "du-nginx-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  feedRoot = join(root, "srv/decnet-feed");
  await mkdir(feedRoot, { recursive: true });
  const started = await startReceiver();
  receiver = started.server;
  port = await freePort();
  const block = await nginxServerBlock({
    port,
    serverCert: pki.server.cert,
    serverKey: pki.server.key,
    clientCa: pki.ca,
    feedRoot,
    reportReceiverPort: started.port,
  });
  nginx = await startNginx(nginxTool, join(root, "nginx"), block, port);
  await publishSpec(join(root, "build"), feedRoot, signer.keyFile, { version: "1.0.0", sha: SHA1 });
  host = await writeHostConfig(join(root, "host"), pki, signer, `https://127.0.0.1:${port}/`, {
    reportUrl: `https://127.0.0.1:${port}/reports`,
  });
});
after(async () => {
  if (host) await killAgent(host.installDir);
  await nginx?.stop();
  receiver?.close();
  if (root && !process.env.KEEP) await rm(root, { recursive: true, force: true });
});

describe("a feed served by nginx with config/nginx-feed.conf", {
  concurrency: false,
  skip: SKIP,
}, () => {
  test("a host installs v1 through nginx and its report reaches the receiver with its certificate's subject", async () => {
    const result = await runCli(["update", "--json", "--config", host.configFile]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.status, "updated");
    assert.equal((await health(pki, host.port))?.sha, SHA1);
    const requests = await accessLog(nginx.accessLog);
    assert.deepEqual(
      requests.map(([method, uri, status]) => `${method} ${uri} ${status}`),
      [
        "GET /manifest.json 200",
        "GET /manifest.json.minisig 200",
        `GET ${await tarballPath()} 200`,
        "POST /reports 201",
      ],
    );
    assert.equal(received.length, 1);
    assert.equal(received[0]?.report.id, json.report_id);
    assert.equal(received[0]?.report.status, "updated");
    assert.equal(received[0]?.report.host_id, "e2e-host");
    assert.equal(received[0]?.verify, "SUCCESS");
    assert.match(received[0]?.subject ?? "", /CN=test-ca-host/);
    assert.deepEqual(await readdir(join(host.stateDir, "outbox")), []);
  });

  test("an idle poll is one conditional GET answered 304 by nginx: no signature fetch, no download", async () => {
    const before = (await accessLog(nginx.accessLog)).length;
    const result = await runCli(["update", "--json", "--config", host.configFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).status, "up_to_date");
    const requests = (await accessLog(nginx.accessLog)).slice(before);
    assert.deepEqual(requests, [["GET", "/manifest.json", 304]]);
  });

  test("with the shipped ssl_session_timeout, the next check in the same process resumes the TLS session", async () => {
    // what the daemon does from one check to the next: a new client, the same identity
    const before = (await sessionsResumed(nginx.accessLog)).length;
    for (let i = 0; i < 2; i++) {
      const client = await createHttpClient(
        { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, keyPrefix: "feed" },
        { timeoutMs: 5000 },
      );
      try {
        await boundedGet(`https://127.0.0.1:${port}/manifest.json`, {
          client,
          maxBytes: 1 << 20,
          deadlineMs: 10_000,
          what: "manifest",
        });
      } finally {
        await client.close();
      }
    }
    assert.deepEqual((await sessionsResumed(nginx.accessLog)).slice(before), [false, true]);
  });

  test("a host whose client certificate nginx does not trust gets E_TLS_CLIENT and changes nothing", async () => {
    await mkdir(join(root, "other"), { recursive: true });
    const other = makePki(join(root, "other"), "rogue-ca");
    const rogue = await writeHostConfig(
      join(root, "rogue"),
      { ...pki, client: other.client },
      signer,
      `https://127.0.0.1:${port}/`,
    );
    const beforeInstall = await snapshot(rogue.installDir);
    const result = await runCli(["check", "--json", "--config", rogue.configFile]);
    assert.equal(result.code, 1, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.code, "E_TLS_CLIENT", result.stdout);
    assert.match(json.error, /client certificate/);
    assert.deepEqual(await snapshot(rogue.installDir), beforeInstall);
    await assert.rejects(readdir(rogue.installDir), { code: "ENOENT" });
    // the failed check is on record for `status`; nothing was accepted or stored
    const state = JSON.parse(await readFile(join(rogue.stateDir, "state.json"), "utf8"));
    assert.equal(state.highest_serial, null);
    assert.equal(state.last_check.status, "error");
    await assert.rejects(readFile(join(rogue.stateDir, "manifest.json")), { code: "ENOENT" });
    const last = (await accessLog(nginx.accessLog)).at(-1);
    assert.deepEqual(last, ["GET", "/manifest.json", 400]);
  });

  test("the feed is read-only: a trusted host's PUT, DELETE and POST are refused, the manifest unchanged", async () => {
    const manifest = await readFile(join(feedRoot, "manifest.json"));
    for (const [method, path] of [
      ["PUT", "/manifest.json"],
      ["DELETE", await tarballPath()],
      ["POST", "/manifest.json"],
      ["GET", "/reports"],
    ] as const) {
      assert.equal(await statusOf(method, path), 403, `${method} ${path}`);
    }
    assert.deepEqual(await readFile(join(feedRoot, "manifest.json")), manifest);
  });
});
