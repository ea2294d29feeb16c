/**
 * A host installed by the Python original: `venv` is a real directory and
 * the release file has only {sha, installed_at}. The first update moves the
 * venv to venvs/<that sha> so a rollback can return to it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { type Host, health, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import { startMtlsServer, staticDir, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec } from "../helpers/release.js";

const LEGACY_SHA = "0000000000000000000000000000000000000abc";
const SHA1 = "1000000000000000000000000000000000000def";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let host: Host;

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-legacy-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  server = await startMtlsServer(pki, staticDir(join(root, "feed")));
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`);
  // The Python original's layout: one shared venv directory, DECNET's release file.
  const wheels = join(root, "legacy-wheels");
  execFileSync("python3", [
    join(import.meta.dirname, "../fixtures/agent/make_wheel.py"),
    "--out",
    wheels,
    "--version",
    "0.9.0",
    "--sha",
    LEGACY_SHA,
  ]);
  const active = join(host.installDir, "releases/active");
  await mkdir(active, { recursive: true });
  await writeFile(
    join(active, ".decnet-release.json"),
    JSON.stringify({ sha: LEGACY_SHA, installed_at: "2026-01-01T00:00:00+00:00" }),
  );
  execFileSync("python3", ["-m", "venv", join(host.installDir, "venv")]);
  execFileSync(
    join(host.installDir, "venv/bin/python"),
    ["-m", "pip", "install", "--isolated", "--no-index", "--find-links", wheels, "decnet"],
    { stdio: "ignore" },
  );
});
after(async () => {
  if (host) await killAgent(host.installDir);
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("adopting a host installed by the Python original", {
  concurrency: false,
  skip: PYTHON_SKIP,
}, () => {
  test("the first update moves the real venv to venvs/<active sha> and flips the link", async () => {
    await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
      version: "1.0.0",
      sha: SHA1,
    });
    const result = await runCli(["update", "--config", host.configFile, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).from, { sha: LEGACY_SHA, version: null });
    assert.ok((await lstat(join(host.installDir, "venv"))).isSymbolicLink());
    assert.equal(await readlink(join(host.installDir, "venv")), `venvs/${SHA1}`);
    assert.deepEqual((await readdir(join(host.installDir, "venvs"))).sort(), [LEGACY_SHA, SHA1]);
    assert.equal((await health(pki, host.port))?.sha, SHA1);
  });

  test("a rollback returns to the adopted venv and the old agent runs again", async () => {
    const result = await runCli(["rollback", "--config", host.configFile, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readlink(join(host.installDir, "venv")), `venvs/${LEGACY_SHA}`);
    const answer = await health(pki, host.port);
    assert.equal(answer?.sha, LEGACY_SHA);
    assert.equal(answer?.version, "0.9.0");
  });
});
