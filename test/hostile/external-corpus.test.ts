/**
 * The external archive corpus (../shared/corpus/external, about 150 hostile
 * and odd tarballs from node-tar, Go, libarchive, CPython, commons-compress,
 * tar-rs and others; SOURCES.md says where each comes from). None is a valid
 * DECNET release, so each, published as a correctly signed release, must make
 * a real `update` fail with one line, and:
 * - the install dir is as it was, with no staging left;
 * - nothing the archive names outside the staging folder (its paths and link
 *   targets, resolved from there) has appeared;
 * - the host's tree holds the trusted-tree property.
 *
 * `.tar` files are gzipped here before they are published (releases are
 * .tar.gz; the corpus tests the tar reader, not gzip's magic bytes).
 * install.python is `false`, so an archive that extracts fails at once at
 * the venv: this suite is about what extraction writes, not about pip.
 * The corpus is not copied into the project: the test reads it where it
 * lies, or from $DECNET_UPDATER_CORPUS.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { access, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import * as tar from "tar";
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
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { snapshot } from "../helpers/snapshot.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

const CORPUS =
  process.env.DECNET_UPDATER_CORPUS ??
  resolve(import.meta.dirname, "../../../shared/corpus/external");
const FILES = existsSync(CORPUS)
  ? readdirSync(CORPUS)
      .filter((name) => name.endsWith(".tar") || name.endsWith(".tar.gz"))
      .sort()
  : [];
const SKIP =
  FILES.length > 0
    ? false
    : `the external archive corpus is not at ${CORPUS} (set DECNET_UPDATER_CORPUS to its folder)`;
/** As the corpus's own notes ask: the gzip bomb is judged against a 4 MiB unpacked limit. */
const LIMITS = { max_entries: 2000, max_unpacked_bytes: 4 * 1024 * 1024 };
/** The codes an update from a non-release may end with: refused by the reader, or the venv after it. */
const CODES = new Set(["E_ARCHIVE", "E_INSTALL"]);

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let files = new Map<string, Buffer>();

before(async () => {
  if (SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-corpus-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
  server = await startMtlsServer(pki, (req, res) => staticFiles(files)(req, res));
});
after(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every path an archive's entries name (and link to), as node-tar reads it leniently. */
function namedPaths(tarBytes: Buffer): string[] {
  const names: string[] = [];
  const parser = new tar.Parser({ strict: false });
  parser.on("entry", (entry) => {
    names.push(entry.path);
    if (entry.linkpath) names.push(entry.linkpath);
    entry.resume();
  });
  parser.on("warn", () => undefined);
  parser.on("error", () => undefined);
  try {
    parser.end(tarBytes);
  } catch {
    // a reader error ends the listing; what was named so far is what we look for
  }
  return names;
}

/** The paths outside `staging` that an archive's names resolve to (absolute ones as they are). */
function outsidePaths(names: string[], staging: string): string[] {
  return names
    .map((name) => (isAbsolute(name) ? name : resolve(staging, name)))
    .filter((path) => path !== staging && !path.startsWith(`${staging}/`));
}

async function present(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths)
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      found.push(path);
  return found;
}

describe("the external archive corpus, each a signed release, fails `update` and writes nothing outside staging", {
  skip: SKIP,
}, () => {
  test(`the corpus is there (${FILES.length} archives)`, () => assert.ok(FILES.length >= 100));

  for (const [index, name] of FILES.entries()) {
    test(name, async () => {
      const raw = readFileSync(join(CORPUS, name));
      const tarball = name.endsWith(".tar") ? gzipSync(raw) : raw;
      const tarBytes = name.endsWith(".tar") ? raw : safeGunzip(raw);
      const dir = join(root, `host-${index}`);
      await mkdir(dir);
      const dirs: AgentDirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
        limits: { ...LIMITS, max_updates_per_day: 100 },
        install: { python: "false" },
      });
      const staging = join(dirs.installDir, "releases/active.new");
      const outside = outsidePaths(namedPaths(tarBytes), staging);
      const before = await present(outside);
      const install = await snapshot(dirs.installDir);
      files = feedOfTarball(signer, tarball, {
        serial: 100 + index,
        sha: `30000${index.toString(16).padStart(6, "0")}`,
      });

      const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });

      assert.equal(result.status, "failed", `${name}: ${result.status}`);
      assert.equal(result.exitCode, 1);
      assert.ok(CODES.has(result.code ?? ""), `${name}: ${result.code}: ${result.error}`);
      assert.ok(result.error && !/[\r\n]/.test(result.error), `one line: ${result.error}`);
      assert.deepEqual(await snapshot(dirs.installDir), install);
      await assert.rejects(access(staging), { code: "ENOENT" });
      assert.deepEqual(await present(outside), before, "nothing appeared outside staging");
      await assertTrustedTree(dirs.installDir, dirs.stateDir);
    });
  }
});

/** The tar inside a .tar.gz for listing its names; a broken gzip lists nothing. */
function safeGunzip(bytes: Buffer): Buffer {
  try {
    return gunzipSync(bytes);
  } catch {
    return Buffer.alloc(0);
  }
}
