import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { Release } from "../../src/feed/manifest.js";
import { createHttpClient, type HttpClient } from "../../src/http/tls.js";
import { createLogger } from "../../src/log.js";
import { downloadRelease, verifyDownload } from "../../src/pipeline/steps/download.js";
import {
  type Handler,
  startMtlsServer,
  staticFiles,
  type TestServer,
} from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { tempDir } from "../helpers/tmp.js";

let root: string;
let pki: Pki;
let client: HttpClient;
const servers: TestServer[] = [];
const body = Buffer.from("a release tarball, pretend it is gzip\n".repeat(100));
const sha256 = createHash("sha256").update(body).digest("hex");
const release: Release = {
  version: "1.0.0",
  sha: "abcdef1",
  url: "r.tar.gz",
  sha256,
  size: body.length,
  rollout: { percent: 100 },
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-dl-"));
  pki = makePki(root);
  client = await createHttpClient(
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, keyPrefix: "feed" },
    { timeoutMs: 2000 },
  );
});
after(async () => {
  await client.close();
  await Promise.all(servers.map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

async function serve(handler: Handler) {
  const server = await startMtlsServer(pki, handler);
  servers.push(server);
  return server;
}

function download(
  url: string,
  downloadsDir: string,
  overrides: Partial<Release> = {},
  maxDownloadBytes = 1 << 20,
) {
  return downloadRelease({
    client,
    url,
    release: { ...release, ...overrides },
    downloadsDir,
    maxDownloadBytes,
    timeoutMs: 2000,
    log: createLogger("silent", process.stderr),
    monotonicMs: () => performance.now(),
  });
}

describe("tarball download", () => {
  test("streams to downloads/, verifies, names the file by its sha256 and keeps only the latest", async (t) => {
    const dir = await tempDir(t);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${"0".repeat(64)}.tar.gz`), "an older verified download");
    const server = await serve(staticFiles(new Map([["/r.tar.gz", body]])));
    const downloaded = await download(`${server.url}/r.tar.gz`, dir);
    assert.equal(downloaded.sha256, sha256);
    const final = await verifyDownload(downloaded, release, dir, `${server.url}/r.tar.gz`);
    assert.equal(final, join(dir, `${sha256}.tar.gz`));
    assert.deepEqual(await readdir(dir), [`${sha256}.tar.gz`]);
    assert.deepEqual(await readFile(final), body);
  });

  test("logs progress (bytes, total, rate) at most every 5 s of its clock", async (t) => {
    const dir = await tempDir(t);
    const server = await serve(async (_req, res) => {
      res.writeHead(200, { "content-length": body.length });
      const piece = Math.ceil(body.length / 24);
      for (let at = 0; at < body.length; at += piece) {
        res.write(body.subarray(at, at + piece));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      res.end();
    });
    // a clock that moves 1 s each time it is read; each log line notes its reading
    let clock = 0;
    const lines: Array<{ at: number; line: Record<string, unknown> }> = [];
    const sink = new PassThrough();
    sink.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.trim().split("\n"))
        lines.push({ at: clock, line: JSON.parse(line) });
    });
    await downloadRelease({
      client,
      url: `${server.url}/r.tar.gz`,
      release,
      downloadsDir: dir,
      maxDownloadBytes: 1 << 20,
      timeoutMs: 2000,
      log: createLogger("info", sink),
      monotonicMs: () => (clock += 1000),
    });
    const progress = lines.filter(({ line }) => line.msg === "Downloading.");
    assert.ok(progress.length >= 1, `no progress line in ${clock / 1000} clock seconds`);
    let previous = { at: -Infinity, bytes: 0 };
    for (const { at, line } of progress) {
      assert.equal(line.step, "download");
      assert.equal(line.total, body.length);
      assert.ok((line.bytes as number) > previous.bytes && (line.bytes as number) <= body.length);
      assert.ok((line.rate as number) > 0);
      assert.ok(at - previous.at >= 5000, `progress lines ${at - previous.at} ms apart`);
      previous = { at, bytes: line.bytes as number };
    }
    // and not one per chunk: the clock moved once per chunk
    assert.ok(progress.length <= clock / 5000, `${progress.length} lines in ${clock} ms`);
  });

  test("a verified tarball from an earlier attempt is reused without a request", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, `${sha256}.tar.gz`), body);
    const server = await serve(staticFiles(new Map([["/r.tar.gz", body]])));
    const downloaded = await download(`${server.url}/r.tar.gz`, dir);
    assert.equal(downloaded.fetched, false);
    assert.equal(server.requests.length, 0);
  });

  test("a body longer than the manifest's size is cut off and nothing is kept", async (t) => {
    const dir = await tempDir(t);
    const server = await serve((_req, res) => {
      res.writeHead(200);
      res.write(body);
      res.end(body);
    });
    await assert.rejects(download(`${server.url}/r.tar.gz`, dir), {
      code: "E_TOO_LARGE",
      message: new RegExp(
        `^tarball https://127\\.0\\.0\\.1:\\d+/r\\.tar\\.gz: larger than ${body.length} bytes \\(\\d+ bytes read\\)$`,
      ),
    });
    assert.deepEqual(await readdir(dir), []);
  });

  test("a Content-Length over the limit is refused unread", async (t) => {
    const dir = await tempDir(t);
    const server = await serve((_req, res) =>
      res
        .writeHead(200, { "content-length": body.length * 10 })
        .end(Buffer.alloc(body.length * 10)),
    );
    await assert.rejects(download(`${server.url}/r.tar.gz`, dir), {
      code: "E_TOO_LARGE",
      message: /\(Content-Length \d+\)$/,
    });
    assert.deepEqual(await readdir(dir), []);
  });

  test("a manifest size over limits.max_download_bytes is refused before any request", async (t) => {
    const dir = await tempDir(t);
    const server = await serve(staticFiles(new Map([["/r.tar.gz", body]])));
    await assert.rejects(download(`${server.url}/r.tar.gz`, dir, {}, 100), {
      code: "E_TOO_LARGE",
      message: `tarball ${server.url}/r.tar.gz: larger than 100 bytes (manifest size ${body.length})`,
    });
    assert.equal(server.requests.length, 0);
  });

  test("a sha256 mismatch is refused and the download removed", async (t) => {
    const dir = await tempDir(t);
    const evil = Buffer.from(body);
    evil[0] = 0x41 ^ (evil[0] as number);
    const server = await serve(staticFiles(new Map([["/r.tar.gz", evil]])));
    const downloaded = await download(`${server.url}/r.tar.gz`, dir);
    await assert.rejects(verifyDownload(downloaded, release, dir, "URL"), {
      code: "E_DIGEST",
      message: `tarball URL: expected sha256 ${sha256}, found ${createHash("sha256").update(evil).digest("hex")}`,
    });
    assert.deepEqual(await readdir(dir), []);
  });
});
