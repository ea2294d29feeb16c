/**
 * Local faults on the host itself: a disk that fills during download,
 * extraction and install (a small tmpfs mounted by the test), a read-only
 * install dir, a missing state dir, a corrupt .decnet-release.json, a clock
 * moved backwards. Each: a clear error, the install dir as it was, every
 * pending report kept. (A second instance: test/state/lock.test.ts and the
 * exit-75 test there; the agent's process already gone:
 * test/pipeline/update-process.test.ts restarts over a stale agent.pid.)
 *
 * Mounting needs root (`mount -t tmpfs`); elsewhere those cases skip with
 * one line saying so. CI runs as root.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { runCheck } from "../../src/agent/check.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { loadState, saveState } from "../../src/state/store.js";
import { agentDeps } from "../helpers/deps.js";
import {
  type AgentDirs,
  feedOfTarball,
  loadAgentConfig,
  makeSigner,
  manifestDoc,
  runningHost,
  type Signer,
  signedFeed,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { snapshot } from "../helpers/snapshot.js";
import { tarGz } from "../helpers/tarball.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let files = new Map<string, Buffer>();
const mounts: string[] = [];
/** Runs when a tarball is asked for: after preflight, before the body (a disk that fills meanwhile). */
let beforeTarball: (() => void) | null = null;

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = join(tmpdir(), `du-mount-probe-${process.pid}`);
  spawnSync("mkdir", ["-p", dir]);
  const ok = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).status === 0;
  if (ok) spawnSync("umount", [dir]);
  spawnSync("rmdir", [dir]);
  return ok;
}
const MOUNT_SKIP = canMount() ? false : "needs root and `mount -t tmpfs` (run as root, as CI does)";

function mountTmpfs(dir: string, size: string): void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  mounts.push(dir);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-local-faults-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
  server = await startMtlsServer(pki, (req, res) => {
    if (req.url?.endsWith(".tar.gz")) beforeTarball?.();
    staticFiles(files)(req, res);
  });
});
after(async () => {
  for (const dir of mounts.reverse()) spawnSync("umount", ["-l", dir]);
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

let hosts = 0;
/** Hosts made by the running test: each ends on the trusted-tree property (issue 15). */
const made: AgentDirs[] = [];
afterEach(async () => {
  for (const dirs of made.splice(0)) await assertTrustedTree(dirs.installDir, dirs.stateDir);
});
/** A host running 1.0.0 whose install dir and/or state dir are fresh mount points when asked. */
async function host(
  options: { installSize?: string; stateSize?: string; extra?: Record<string, unknown> } = {},
): Promise<AgentDirs> {
  const dir = join(root, `host-${hosts++}`);
  await mkdir(dir);
  const installDir = join(dir, "opt/decnet");
  const stateDir = join(dir, "var/lib/decnet-updater");
  await mkdir(installDir, { recursive: true });
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  if (options.installSize) mountTmpfs(installDir, options.installSize);
  if (options.stateSize) mountTmpfs(stateDir, options.stateSize);
  const dirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
    feed: { report_url: `${server.url}/reports` },
    // the faults below are mid-operation ones; preflight's venv reserve would stop them earlier
    limits: { install_reserve_bytes: 0 },
    ...options.extra,
  } as never);
  made.push(dirs);
  return dirs;
}

/** Publishes 2.0.0 as `tarball` (its true sha256 and size). */
function publish(tarball: Buffer): void {
  files = feedOfTarball(signer, tarball);
}

/** A report left from an earlier cycle, which the master (404 here) has not taken yet. */
async function pendingReport(dirs: AgentDirs): Promise<string> {
  await mkdir(join(dirs.stateDir, "outbox"), { recursive: true });
  const id = "00000000-0000-4000-8000-000000000001";
  await writeFile(
    join(dirs.stateDir, "outbox", `${id}.json`),
    JSON.stringify({ id, status: "failed", finished_at: "2026-11-01T00:00:00.000Z" }),
  );
  return `${id}.json`;
}

describe("a full disk", { skip: MOUNT_SKIP }, () => {
  test("during download: E_DISK, no partial file, the live release and pending reports kept", async () => {
    const dirs = await host({ stateSize: "2m" });
    const pending = await pendingReport(dirs);
    publish(randomBytes(1024 * 1024)); // incompressible: preflight sees room for 1 MiB...
    // ...then something else fills the disk between preflight and the download
    beforeTarball = () => {
      writeFileSync(join(dirs.stateDir, "filler"), Buffer.alloc(1024 * 1024 + 512 * 1024));
      beforeTarball = null;
    };
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_DISK", result.error ?? "");
    assert.match(result.error ?? "", /^download into .*\/downloads\/[^ ]+: ENOSPC \(disk full\)$/);
    assert.deepEqual(await readdir(join(dirs.stateDir, "downloads")), []);
    assert.deepEqual(await snapshot(dirs.installDir), install);
    assert.ok((await readdir(join(dirs.stateDir, "outbox"))).includes(pending));
  });

  test("too small for the download: preflight refuses before the tarball is asked for", async () => {
    const dirs = await host({ stateSize: "256k" });
    const pending = await pendingReport(dirs);
    publish(randomBytes(1024 * 1024));
    const install = await snapshot(dirs.installDir);
    server.requests.length = 0;
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_DISK", result.error ?? "");
    assert.match(
      result.error ?? "",
      /^preflight: .*\/downloads has 0\.\d MiB free, the download of 2\.0\.0 \(1\.0 MiB\) needs 1\.0 MiB$/,
    );
    assert.deepEqual(
      server.requests.filter((r) => r.path.endsWith(".tar.gz")),
      [],
      "nothing was downloaded",
    );
    assert.deepEqual(await snapshot(dirs.installDir), install);
    assert.ok((await readdir(join(dirs.stateDir, "outbox"))).includes(pending));
    const state = await loadState(join(dirs.stateDir, "state.json"));
    assert.deepEqual(state.failed_releases, {});
  });

  test("during extraction: E_DISK, staging removed, the live release kept", async () => {
    const dirs = await host({ installSize: "512k" });
    // 4 MiB of zeros gzip to a few KiB: the download fits, the unpacked file does not
    publish(
      tarGz([{ path: "pkg/" }, { path: "pkg/big.bin", body: Buffer.alloc(4 * 1024 * 1024) }]),
    );
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_DISK", result.error ?? "");
    assert.match(result.error ?? "", /^extract pkg\/big\.bin: ENOSPC \(disk full\)$/);
    assert.deepEqual(await snapshot(dirs.installDir), install);
    const state = await loadState(join(dirs.stateDir, "state.json"));
    assert.deepEqual(state.failed_releases, {}, "a full disk never marks a release failed");
  });

  test("during extraction of small files (one write each): E_DISK naming the entry, staging removed, reports kept", async () => {
    const dirs = await host({ installSize: "512k" });
    const pending = await pendingReport(dirs);
    // 200 KiB each, under the 256 KiB of the small-file path: the third cannot fit
    const entries = [0, 1, 2, 3].map((i) => ({
      path: `pkg/f${i}.bin`,
      body: Buffer.alloc(200 * 1024),
    }));
    publish(tarGz([{ path: "pkg/" }, ...entries]));
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_DISK", result.error ?? "");
    assert.match(result.error ?? "", /^extract pkg\/f[23]\.bin: ENOSPC \(disk full\)$/);
    assert.deepEqual(await snapshot(dirs.installDir), install);
    assert.ok((await readdir(join(dirs.stateDir, "outbox"))).includes(pending));
    const state = await loadState(join(dirs.stateDir, "state.json"));
    assert.deepEqual(state.failed_releases, {}, "a full disk never marks a release failed");
  });

  test("out of inodes during extraction: E_DISK naming the entry, not E_ARCHIVE, nothing marked", async () => {
    const dirs = await host({ installSize: "4m,nr_inodes=16" }); // room for bytes, not for files
    publish(
      tarGz([
        { path: "pkg/" },
        ...Array.from({ length: 40 }, (_, i) => ({ path: `pkg/f${i}`, body: "x" })),
      ]),
    );
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_DISK", result.error ?? "");
    assert.match(result.error ?? "", /^extract pkg\/f\d+: ENOSPC \(disk full\)$/);
    assert.deepEqual(await snapshot(dirs.installDir), install);
    const state = await loadState(join(dirs.stateDir, "state.json"));
    assert.deepEqual(state.failed_releases, {});
    assert.deepEqual(state.retries["2000000bbbb"]?.failures, 1, "retried later with backoff");
  });

  test("during install (python -m venv into a full disk): E_DISK, not E_INSTALL, and the release is not marked", {
    skip: PYTHON_SKIP,
  }, async () => {
    const dirs = await host({ installSize: "3m", extra: { retry: { max_install_attempts: 1 } } });
    publish(tarGz([{ path: "pkg/" }, { path: "pkg/ok.py", body: "print(1)\n" }]));
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_DISK", `${result.error}\n${result.stderr}`);
    assert.match(
      result.error ?? "",
      /^creating the venv \(.*\): exit 1; the disk is full \(\d+ KiB free under .*\/venvs\)$/,
    );
    assert.deepEqual(await snapshot(dirs.installDir), install);
    const state = await loadState(join(dirs.stateDir, "state.json"));
    assert.deepEqual(state.failed_releases, {}, "max_install_attempts = 1 and still not marked");
  });
});

describe("a read-only install dir", { skip: MOUNT_SKIP }, () => {
  test("is refused with the path and the reason, and nothing changes", async () => {
    const dirs = await host({ installSize: "1m" });
    execFileSync("mount", ["-o", "remount,ro", dirs.installDir]);
    publish(tarGz([{ path: "pkg/" }, { path: "pkg/ok.py", body: "print(1)\n" }]));
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_IO", result.error ?? "");
    assert.match(result.error ?? "", /: EROFS \(read-only file system\)$/);
    assert.match(result.error ?? "", new RegExp(dirs.installDir.replaceAll("/", "\\/")));
    assert.deepEqual(await snapshot(dirs.installDir), install);
  });
});

describe("state and release files", () => {
  test("a missing state dir is created (0700) and the check works", async () => {
    const dirs = await host();
    await rm(dirs.stateDir, { recursive: true });
    publish(tarGz([{ path: "pkg/" }]));
    const result = await runCheck(await loadAgentConfig(dirs), agentDeps());
    assert.equal(result.status, "update_available");
    assert.equal((await stat(dirs.stateDir)).mode & 0o777, 0o700);
  });

  test("a corrupt .decnet-release.json counts as an unknown sha: the target is installed again", async () => {
    const dirs = await host();
    await writeFile(join(dirs.installDir, "releases/active/.decnet-release.json"), "{torn wri");
    publish(tarGz([{ path: "pkg/" }]));
    files = signedFeed(signer, manifestDoc({ latest: "1.0.0" })); // the active version is latest
    const result = await runCheck(await loadAgentConfig(dirs), agentDeps());
    assert.equal(result.status, "update_available", result.reason);
    assert.equal(result.from, null);
    assert.equal(result.to.sha, "1000000aaaa");
  });

  test("a clock moved backwards keeps a failed release blocked rather than retrying it early", async () => {
    const dirs = await host({ extra: { retry: { failed_release: "1h" } } });
    publish(tarGz([{ path: "pkg/" }]));
    const statePath = join(dirs.stateDir, "state.json");
    const state = await loadState(statePath);
    const markedAt = new Date("2026-11-26T12:00:00Z");
    state.failed_releases["2000000bbbb"] = {
      version: "2.0.0",
      marked_at: markedAt.toISOString(),
      attempts: 1,
      error: "rolled back",
      reported_serial: null,
    };
    await saveState(statePath, state);
    const config = await loadAgentConfig(dirs);
    const at = (ms: number) => agentDeps({ now: () => new Date(markedAt.getTime() + ms) });
    // clock moved back a day: still blocked (never "due" before it was marked)
    assert.equal((await runCheck(config, at(-86_400_000))).status, "skipped");
    // half an hour after the mark: blocked; an hour and a second after: due again
    assert.equal((await runCheck(config, at(30 * 60_000))).status, "skipped");
    assert.equal((await runCheck(config, at(3_601_000))).status, "update_available");
  });
});
