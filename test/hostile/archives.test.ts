/**
 * Hostile archives end to end: each kind of test/helpers/hostile-archives.ts
 * is published as a correctly signed release (its sha256 and size in a
 * manifest signed by the trusted key), and a host running 1.0.0 runs a real
 * `update` cycle against it over mTLS. Each must be refused with its exact
 * E_ARCHIVE message and exit status 1; the install dir must be byte for byte
 * as before (no staging left, the live release untouched), nothing may
 * appear outside it, and one second after the last case every install dir is
 * looked at again (a writer that kept going after a refusal shows up then).
 */
import assert from "node:assert/strict";
import { access, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import {
  type AgentDirs,
  feedOfTarball,
  loadAgentConfig,
  makeSigner,
  runningHost,
  type Signer,
} from "../helpers/feed.js";
import { HOSTILE_ARCHIVES, HOSTILE_LIMITS, OUTSIDE } from "../helpers/hostile-archives.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { type Snapshot, snapshot } from "../helpers/snapshot.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let files = new Map<string, Buffer>();
const looked: Array<{ name: string; dirs: AgentDirs; install: Snapshot }> = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-hostile-archives-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
  server = await startMtlsServer(pki, (req, res) => staticFiles(files)(req, res));
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe("hostile archives, each a signed release, are refused by `update`", () => {
  test(`there are at least 25 kinds (${HOSTILE_ARCHIVES.length})`, () =>
    assert.ok(HOSTILE_ARCHIVES.length >= 25));

  for (const [index, hostile] of HOSTILE_ARCHIVES.entries()) {
    test(`refuses ${hostile.name}`, async () => {
      const dir = join(root, `host-${index}`);
      await mkdir(dir);
      const dirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
        limits: {
          max_entries: HOSTILE_LIMITS.maxEntries,
          max_unpacked_bytes: HOSTILE_LIMITS.maxUnpackedBytes,
        },
      });
      const install = await snapshot(dirs.installDir);
      files = feedOfTarball(signer, hostile.bytes(), {
        serial: 100 + index,
        sha: `20000${index.toString(16).padStart(6, "0")}`,
      });

      const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });

      assert.equal(result.code, "E_ARCHIVE", `${result.status}: ${result.error}`);
      assert.equal(result.status, "failed");
      assert.equal(result.exitCode, 1);
      assert.match(result.error ?? "", /^archive [0-9a-f]{64}\.tar\.gz: /);
      assert.match(result.error ?? "", hostile.message);
      assert.doesNotMatch(result.error ?? "", /\n/);
      assert.deepEqual(
        result.steps.map((s) => `${s.name}:${s.ok}`),
        ["fetch:true", "preflight:true", "download:true", "verify:true", "extract:false"],
      );
      assert.deepEqual(await snapshot(dirs.installDir), install);
      await assert.rejects(access(join(dirs.installDir, "releases/active.new")), {
        code: "ENOENT",
      });
      await assert.rejects(access(OUTSIDE), { code: "ENOENT" });
      await assertTrustedTree(dirs.installDir, dirs.stateDir);
      looked.push({ name: hostile.name, dirs, install });
    });
  }

  test("one second later nothing has moved in any install dir or outside them", async () => {
    assert.equal(looked.length, HOSTILE_ARCHIVES.length);
    await sleep(1000);
    for (const { name, dirs, install } of looked) {
      assert.deepEqual(await snapshot(dirs.installDir), install, name);
      await assert.rejects(access(join(dirs.installDir, "releases/active.new")), {
        code: "ENOENT",
      });
    }
    await assert.rejects(access(OUTSIDE), { code: "ENOENT" });
  });
});
