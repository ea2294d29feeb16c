/**
 * The command line as an operator meets it: keygen and publish make a feed,
 * a real mTLS server serves the folder, and `check` runs as a subprocess.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { type AgentDirs, installActive, type Signer, writeAgentConfig } from "../helpers/feed.js";
import { startMtlsServer, staticDir, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { snapshot } from "../helpers/snapshot.js";

let root: string;
let pki: Pki;
let server: TestServer;
let dirs: AgentDirs;
let releaseSha = "";

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-cli-"));
  pki = makePki(root);
  const keygen = await runCli(["keygen", "--out", join(root, "keys")]);
  assert.equal(keygen.code, 0, keygen.stderr);
  const pubLine = /trusted_keys entry: "(RW[^"]+)"/.exec(keygen.stdout)?.[1] as string;
  await writeFile(join(root, "decnet-1.0.0.tar.gz"), "not really a tarball");
  releaseSha = "0123456789abcdef0123456789abcdef01234567";
  const publish = await runCli([
    "publish",
    "--feed",
    join(root, "feed"),
    "--tarball",
    join(root, "decnet-1.0.0.tar.gz"),
    "--version",
    "1.0.0",
    "--sha",
    releaseSha,
    "--key",
    join(root, "keys/minisign.key"),
  ]);
  assert.equal(publish.code, 0, publish.stderr);
  assert.match(
    publish.stdout,
    /^published 1\.0\.0 \(0123456789ab, 20 bytes\) as serial 1; latest 1\.0\.0; expires /,
  );
  server = await startMtlsServer(pki, staticDir(join(root, "feed")));
  dirs = await writeAgentConfig(root, pki, { pubLine } as Signer, server.url, {
    log: { level: "info" },
  });
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe("decnet-updater check (subprocess)", () => {
  test("exits 100 with one JSON object on stdout when an update is available; logs go to stderr", async () => {
    const result = await runCli(["check", "--config", dirs.configFile, "--json"]);
    assert.equal(result.code, 100, result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const json = JSON.parse(lines[0] as string);
    assert.equal(json.status, "update_available");
    assert.equal(json.from, null);
    assert.deepEqual(json.to, { sha: releaseSha, version: "1.0.0" });
    assert.equal(json.error, null);
    const logLines = result.stderr
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.ok(logLines.some((line) => line.step === "fetch" && typeof line.ms === "number"));
  });

  test("exits 0 and says so when the active release is the target; the config can come from the environment", async () => {
    await installActive(dirs.installDir, releaseSha, "1.0.0");
    const result = await runCli(["check"], { env: { DECNET_UPDATER_CONFIG: dirs.configFile } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `up to date: 1.0.0 (${releaseSha.slice(0, 12)}) is active\n`);
    await rm(join(dirs.installDir, "releases"), { recursive: true });
  });

  test("a config error exits 1 with one line naming the file", async () => {
    const missing = join(root, "nope.toml");
    const human = await runCli(["check", "--config", missing]);
    assert.equal(human.code, 1);
    assert.equal(
      human.stderr,
      `decnet-updater: config ${missing}: cannot read the file (ENOENT)\n`,
    );
    const json = await runCli(["check", "--config", missing, "--json"]);
    assert.equal(json.code, 1);
    assert.deepEqual(JSON.parse(json.stdout), {
      status: "error",
      from: null,
      to: null,
      error: `config ${missing}: cannot read the file (ENOENT)`,
      code: "E_CONFIG",
    });
  });

  test("rollback with no previous release exits 1 and changes nothing", async () => {
    const before = {
      install: await snapshot(dirs.installDir),
      state: await snapshot(dirs.stateDir),
    };
    const result = await runCli(["rollback", "--config", dirs.configFile]);
    assert.equal(result.code, 1);
    assert.deepEqual(
      { install: await snapshot(dirs.installDir), state: await snapshot(dirs.stateDir) },
      before,
    );
    assert.equal(
      result.stderr,
      `decnet-updater: nothing to roll back to: ${join(dirs.installDir, "releases/prev")} holds no release\n`,
    );
  });

  test("usage errors exit 64; --help and --version exit 0", async () => {
    assert.equal((await runCli(["check", "--bogus"])).code, 64);
    assert.equal((await runCli(["frobnicate"])).code, 64);
    assert.equal((await runCli([])).code, 64);
    assert.equal((await runCli(["publish", "--feed", root])).code, 64);
    const version = await runCli(["--version"]);
    assert.equal(version.code, 0);
    assert.equal(version.stdout, "0.1.0\n");
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /check .*\n.*keygen .*\n.*publish/s);
    const checkHelp = await runCli(["check", "--help"]);
    assert.equal(checkHelp.code, 0);
    assert.match(checkHelp.stdout, /Exit codes: 0 up to date/);
  });

  test("publish refuses a bad version with exit 64 and leaves the feed unchanged", async () => {
    const result = await runCli([
      "publish",
      "--feed",
      join(root, "feed"),
      "--tarball",
      join(root, "decnet-1.0.0.tar.gz"),
      "--version",
      "v2",
      "--sha",
      releaseSha,
      "--key",
      join(root, "keys/minisign.key"),
    ]);
    assert.equal(result.code, 64);
    assert.equal(
      result.stderr,
      'decnet-updater: --version: expected a semver version like 1.2.3, found "v2"\n',
    );
  });
});
