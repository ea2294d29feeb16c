/**
 * `decnet-updater receive` over real mTLS and behind a proxy, with the
 * embedded SQLite store: every rule of docs/protocol.md section 4, each
 * refusal's exact one-line answer, and what is stored after it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import type { Database } from "../../src/master/store/database.js";
import { makePki, type Pki } from "../helpers/pki.js";
import {
  curlOnSocket,
  postReport,
  startTestReceiver,
  type TestReceiver,
} from "../helpers/receiver.js";
import { hostReport } from "../helpers/reports.js";
import { tempDir } from "../helpers/tmp.js";

async function stored(
  db: Database,
): Promise<Array<{ id: string; host_id: string; status: string; body: string }>> {
  return db.read.all("SELECT id, host_id, status, body FROM reports ORDER BY received_at, id");
}

// One folder for the file's suites, removed at the end (a hook's own `after` would run too soon).
const root = mkdtempSync(join(tmpdir(), "du-receiver-"));
after(() => rm(root, { recursive: true, force: true }));
const pki: Pki = makePki(root);
let n = 0;
const subdir = (name: string) => mkdtempSync(join(root, `${name}-${++n}-`));

describe("receive, mTLS itself", () => {
  let receiver: TestReceiver;
  let hostA: ReturnType<Pki["issue"]>;
  let hostB: ReturnType<Pki["issue"]>;
  before(async () => {
    const dir = subdir("mtls");
    hostA = pki.issue("worker-a", { clientAuth: true });
    hostB = pki.issue("worker-b", { clientAuth: true });
    receiver = await startTestReceiver(dir, pki, {
      mode: "mtls",
      extra: "header_timeout_s = 1\nrequest_timeout_s = 2",
    });
  });
  after(() => receiver.close());
  const post = (body: string | Buffer, client = hostA, headers: Record<string, string> = {}) =>
    postReport(receiver.url, body, { client, ca: pki.ca, headers });
  const clear = () =>
    receiver.db.write(async (tx) => {
      for (const table of ["reports", "hosts", "attempts", "report_counts"])
        await tx.run(`DELETE FROM ${table}`);
    });

  test("stored once: 201, then 409 for the same id; other content under that id is a logged conflict", async () => {
    await clear();
    const report = JSON.stringify(hostReport({ host_id: "worker-a" }));
    const id = JSON.parse(report).id;
    assert.deepEqual(await post(report), { status: 201, text: `stored ${id}\n` });
    assert.deepEqual(await post(report), { status: 409, text: `already stored: ${id}\n` });
    const other = JSON.stringify({ ...JSON.parse(report), status: "failed", error: "other" });
    assert.deepEqual(await post(other), {
      status: 409,
      text: `conflict: id ${id} is already stored with other content; the first one is kept\n`,
    });
    assert.deepEqual(await stored(receiver.db), [
      { id, host_id: "worker-a", status: "updated", body: report },
    ]);
    assert.ok(
      receiver.logs.some(
        (l) => l.level === 40 && String(l.msg).startsWith(`Report conflict: id ${id}`),
      ),
    );
  });

  test("a host_id that is not the client certificate's: 403, nothing stored", async () => {
    await clear();
    const answer = await post(JSON.stringify(hostReport({ host_id: "worker-a" })), hostB);
    assert.deepEqual(answer, {
      status: 403,
      text: 'report refused: host_id "worker-a" is not the client certificate\'s (cn: "worker-b")\n',
    });
    assert.deepEqual(await stored(receiver.db), []);
    assert.ok(receiver.logs.some((l) => l.http_status === 403 && l.host_id === "worker-a"));
  });

  test("no client certificate: the handshake is refused, nothing stored", async () => {
    await clear();
    await assert.rejects(
      postReport(receiver.url, JSON.stringify(hostReport({ host_id: "worker-a" })), { ca: pki.ca }),
      (error: Error & { code?: string }) => {
        assert.match(
          `${error.code} ${error.message}`,
          /certificate required|ECONNRESET|socket hang up|alert/i,
        );
        return true;
      },
    );
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("a certificate from another CA: refused at the handshake, nothing stored", async () => {
    await clear();
    const otherDir = subdir("other-ca");
    const other = makePki(otherDir, "other-ca");
    const stranger = other.issue("worker-a", { clientAuth: true });
    await assert.rejects(post(JSON.stringify(hostReport({ host_id: "worker-a" })), stranger));
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("malformed JSON: 400 naming it, nothing stored", async () => {
    await clear();
    const answer = await post('{"id": ');
    assert.equal(answer.status, 400);
    assert.match(answer.text, /^report refused: the body is not JSON \(.+\)\n$/);
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("a body over 64 KiB: 413, nothing stored", async () => {
    await clear();
    const big = JSON.stringify(hostReport({ host_id: "worker-a", stderr: "x".repeat(70 * 1024) }));
    const answer = await post(big);
    assert.deepEqual(answer, {
      status: 413,
      text: `report refused: body of ${Buffer.byteLength(big)} bytes, the limit is 65536\n`,
    });
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("a wrong field and a missing field: 400 with the field named, nothing stored", async () => {
    await clear();
    assert.deepEqual(
      await post(JSON.stringify(hostReport({ host_id: "worker-a", status: "exploded" }))),
      {
        status: 400,
        text: 'report refused: field status: expected one of "updated", "rolled_back", "rollback_failed", "failed", "skipped", "warning", "current", found "exploded"\n',
      },
    );
    const { finished_at: _, ...missing } = hostReport({ host_id: "worker-a" });
    assert.deepEqual(await post(JSON.stringify(missing)), {
      status: 400,
      text: "report refused: field finished_at: expected string, found nothing\n",
    });
    assert.deepEqual(await post("[1,2]"), {
      status: 400,
      text: "report refused: the body is not a JSON object\n",
    });
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("an id in capitals (a second copy of a stored one) and a NUL in a field: 400, nothing stored", async () => {
    await clear();
    const report = hostReport({ host_id: "worker-a" });
    const upper = JSON.stringify({ ...report, id: String(report.id).toUpperCase() });
    assert.deepEqual(await post(upper), {
      status: 400,
      text: `report refused: field id: expected a lowercase UUID, found "${String(report.id).toUpperCase()}"\n`,
    });
    const nul = JSON.stringify(hostReport({ host_id: "worker-a", error: "pip\u0000died" }));
    assert.deepEqual(await post(nul), {
      status: 400,
      text: "report refused: field error: a NUL character\n",
    });
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("the views answer only under their own names (no DNS rebinding)", async () => {
    const port = new URL(receiver.viewUrl as string).port;
    const { request } = await import("node:http");
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port, path: "/fleet.json", headers: { host } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    assert.equal(await status(`127.0.0.1:${port}`), 200);
    assert.equal(await status(`localhost:${port}`), 200);
    assert.equal(await status(`rebind.example:${port}`), 421);
  });

  test("views the operator put off loopback answer under any name, as the start-up warning says", async (t) => {
    const open = await startTestReceiver(subdir("view-open"), pki, {
      mode: "mtls",
      viewListen: "0.0.0.0:0",
    });
    t.after(() => open.close());
    const port = new URL(open.viewUrl as string).port;
    const { request } = await import("node:http");
    const answer = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/fleet.json",
          headers: { host: `master.internal:${port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(answer, 200);
    assert.ok(
      open.logs.some((line) => String(line.msg).includes("not on loopback: anyone who reaches it")),
    );
  });

  test("an Idempotency-Key that is not the report's id: 400, nothing stored", async () => {
    await clear();
    const report = hostReport({ host_id: "worker-a" });
    const answer = await post(JSON.stringify(report), hostA, { "idempotency-key": "another" });
    assert.deepEqual(answer, {
      status: 400,
      text: `report refused: Idempotency-Key "another" is not the report's id ${report.id}\n`,
    });
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("slow-loris: headers that never end and a body that stalls are cut at their timeouts, nothing stored", async () => {
    await clear();
    const open = () =>
      new Promise<import("node:tls").TLSSocket>((resolve, reject) => {
        const socket = tlsConnect({
          host: "127.0.0.1",
          port: Number(new URL(receiver.url).port),
          ca: readFileSync(pki.ca),
          cert: readFileSync(hostA.cert),
          key: readFileSync(hostA.key),
        });
        socket.once("secureConnect", () => resolve(socket));
        socket.once("error", reject);
      });
    const closedWithin = (socket: import("node:tls").TLSSocket, ms: number) =>
      new Promise<{ closed: boolean; data: string }>((resolve) => {
        let data = "";
        socket.on("data", (c) => {
          data += c;
        });
        socket.on("error", () => {});
        const timer = setTimeout(() => resolve({ closed: false, data }), ms);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve({ closed: true, data });
        });
      });
    const headers = await open();
    headers.write("POST /reports HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const started = Date.now();
    const h = await closedWithin(headers, 8000);
    assert.ok(h.closed, "a connection that never finishes its headers is closed");
    assert.ok(Date.now() - started >= 900, "not before header_timeout_s");
    const body = await open();
    const report = JSON.stringify(hostReport({ host_id: "worker-a" }));
    body.write(
      `POST /reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${report.length}\r\n\r\n${report.slice(0, 20)}`,
    );
    const b = await closedWithin(body, 10_000);
    assert.ok(b.closed, "a body that stalls is cut at request_timeout_s");
    assert.ok(!b.data.includes("201"), b.data);
    assert.deepEqual(await stored(receiver.db), []);
  });

  test("the fleet's listener takes POST /reports only; the views are on their own loopback listener", async () => {
    // any other method or path on the fleet's listener, with a valid certificate
    const { request } = await import("node:https");
    const call = (method: string, path: string) =>
      new Promise<{ status: number; allow: string | undefined; text: string }>(
        (resolve, reject) => {
          const req = request(
            {
              host: "127.0.0.1",
              port: new URL(receiver.url).port,
              path,
              method,
              agent: false,
              ca: readFileSync(pki.ca),
              cert: readFileSync(hostA.cert),
              key: readFileSync(hostA.key),
            },
            (res) => {
              let text = "";
              res.on("data", (c) => {
                text += c;
              });
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, text }),
              );
            },
          );
          req.on("error", reject);
          req.end();
        },
      );
    assert.deepEqual(await call("GET", "/reports"), {
      status: 405,
      allow: "POST",
      text: "method GET not allowed: POST a report\n",
    });
    for (const path of ["/metrics", "/fleet", "/fleet.json"])
      assert.equal((await call("GET", path)).status, 404, `${path} is not on the fleet's listener`);
    assert.equal((await call("POST", "/report")).status, 404);
    const res = await fetch(`${receiver.viewUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# HELP decnet_fleet_hosts /m);
    assert.equal((await fetch(`${receiver.viewUrl}/nothing`)).status, 404);
  });
});

describe("receive, identity from a DNS subjectAltName", () => {
  test("the report's host_id must be one of the certificate's DNS names", async (t) => {
    const dir = await tempDir(t, "du-receiver-san-");
    const receiver = await startTestReceiver(dir, pki, { mode: "mtls", identity: "dns-san" });
    t.after(() => receiver.close());
    const client = pki.issue("some-cn", {
      clientAuth: true,
      san: "DNS:worker-9.fleet,DNS:worker-9",
    });
    const ok = await postReport(receiver.url, JSON.stringify(hostReport({ host_id: "worker-9" })), {
      client,
      ca: pki.ca,
    });
    assert.equal(ok.status, 201, ok.text);
    const byCn = await postReport(
      receiver.url,
      JSON.stringify(hostReport({ host_id: "some-cn" })),
      { client, ca: pki.ca },
    );
    assert.deepEqual(byCn, {
      status: 403,
      text: 'report refused: host_id "some-cn" is not the client certificate\'s (dns-san: "worker-9.fleet", "worker-9")\n',
    });
    assert.deepEqual(
      (await stored(receiver.db)).map((r) => r.host_id),
      ["worker-9"],
    );
  });
});

describe("receive, behind a proxy", () => {
  let receiver: TestReceiver;
  before(async () => {
    receiver = await startTestReceiver(subdir("proxy"), pki, { mode: "proxy" });
  });
  after(() => receiver.close());
  const verified = (subject: string) => ({
    "x-client-verify": "SUCCESS",
    "x-client-subject": subject,
  });

  test("the identity the proxy passes is checked like a certificate's", async () => {
    const report = hostReport({ host_id: "worker-p" });
    assert.equal(
      (
        await postReport(receiver.url, JSON.stringify(report), {
          headers: verified("CN=worker-p,O=DECNET"),
        })
      ).status,
      201,
    );
    assert.deepEqual(
      await postReport(receiver.url, JSON.stringify(hostReport({ host_id: "worker-q" })), {
        headers: verified("CN=worker-p,O=DECNET"),
      }),
      {
        status: 403,
        text: 'report refused: host_id "worker-q" is not the client certificate\'s (cn: "worker-p")\n',
      },
    );
    assert.deepEqual(
      await postReport(receiver.url, JSON.stringify(hostReport({ host_id: "worker-p" })), {
        headers: {
          "x-client-verify": "FAILED:certificate has expired",
          "x-client-subject": "CN=worker-p",
        },
      }),
      {
        status: 401,
        text: "report refused: the proxy did not verify a client certificate (X-Client-Verify: FAILED:certificate has expired)\n",
      },
    );
    assert.deepEqual(
      await postReport(receiver.url, JSON.stringify(hostReport({ host_id: "worker-p" })), {}),
      {
        status: 401,
        text: "report refused: the proxy did not verify a client certificate (X-Client-Verify: absent)\n",
      },
    );
    assert.deepEqual(
      (await stored(receiver.db)).map((r) => r.id),
      [report.id],
    );
  });

  test("only from the configured proxy address: another local address gets 403 and nothing is stored", async () => {
    const before = (await stored(receiver.db)).length;
    const answer = await postReport(
      receiver.url,
      JSON.stringify(hostReport({ host_id: "worker-p" })),
      {
        headers: verified("CN=worker-p"),
        localAddress: "127.0.0.2",
      },
    );
    assert.deepEqual(answer, {
      status: 403,
      text: "report refused: connection from 127.0.0.2, not from a configured proxy (proxy.trusted)\n",
    });
    assert.equal((await stored(receiver.db)).length, before);
  });

  test("escaped commas in the subject do not forge a CN", async () => {
    const answer = await postReport(
      receiver.url,
      JSON.stringify(hostReport({ host_id: "worker-p" })),
      {
        headers: verified("CN=evil\\,CN=worker-p,O=DECNET"),
      },
    );
    assert.deepEqual(answer, {
      status: 403,
      text: 'report refused: host_id "worker-p" is not the client certificate\'s (cn: "evil,CN=worker-p")\n',
    });
  });
});

describe("receive, behind a proxy on a unix socket", () => {
  test("only who may open the socket file passes identities: mode 0660, nobody else connects", async (t) => {
    const dir = subdir("socket");
    // a folder anyone may enter, so that the socket's own mode is what refuses
    const { chmod, stat } = await import("node:fs/promises");
    await chmod(dir, 0o755);
    const socket = join(dir, "receiver.sock");
    const receiver = await startTestReceiver(dir, pki, {
      mode: "proxy",
      listen: `unix:${socket}`,
      noTrusted: true,
    });
    t.after(() => receiver.close());
    assert.equal(((await stat(socket)).mode & 0o777).toString(8), "660");
    const report = hostReport({ host_id: "worker-u" });
    const headers = { "x-client-verify": "SUCCESS", "x-client-subject": "CN=worker-u" };
    const answer = await postReport("http://localhost", JSON.stringify(report), {
      socketPath: socket,
      headers,
    });
    assert.deepEqual(answer, { status: 201, text: `stored ${report.id}\n` });
    if (process.getuid?.() === 0) {
      // an unprivileged local user, with curl: refused by the file system, nothing stored
      const { spawnSync } = await import("node:child_process");
      const other = hostReport({ host_id: "worker-u" });
      const run = spawnSync(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          ...curlOnSocket(socket, "worker-u", JSON.stringify(other)),
        ],
        { encoding: "utf8" },
      );
      assert.equal(run.status, 7, `curl as nobody: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /Permission denied|Couldn't connect/);
    }
    assert.deepEqual(
      (await stored(receiver.db)).map((r) => r.id),
      [report.id],
    );
  });
});
