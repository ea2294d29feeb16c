import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCheck } from "../../src/agent/check.js";
import { runClear } from "../../src/agent/clear.js";
import { loadConfig } from "../../src/config/load.js";
import { agentDeps } from "../helpers/deps.js";
import {
  type AgentDirs,
  installActive,
  makeSigner,
  manifestDoc,
  type Signer,
  signedFeed,
  writeAgentConfig,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let files = new Map<string, Buffer>();

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-check-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
  server = await startMtlsServer(pki, (req, res) => staticFiles(files)(req, res));
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

async function setup(t: Parameters<typeof tempDir>[0], extra = {}): Promise<AgentDirs> {
  files = signedFeed(signer, manifestDoc());
  server.requests.length = 0;
  return writeAgentConfig(await tempDir(t), pki, signer, `${server.url}/feed`, extra);
}

const manifestRequests = () => server.requests.filter((r) => r.path === "/feed/manifest.json");
const signatureRequests = () =>
  server.requests.filter((r) => r.path === "/feed/manifest.json.minisig");

describe("check", () => {
  test("a host with nothing installed has latest available; only state_dir is written", async (t) => {
    const dirs = await setup(t);
    const result = await runCheck(await loadConfig(dirs.configFile), agentDeps());
    assert.equal(result.status, "update_available");
    assert.equal(result.from, null);
    assert.deepEqual(result.to, { sha: "1100000bbbb", version: "1.1.0" });
    assert.equal(result.manifest_serial, 10);
    assert.deepEqual(await snapshot(dirs.installDir), {});
    const state = JSON.parse(await readFile(join(dirs.stateDir, "state.json"), "utf8"));
    assert.equal(state.highest_serial, 10);
    assert.match(state.etag, /^"/);
    assert.equal(state.last_check.status, "update_available");
    assert.deepEqual(
      await readFile(join(dirs.stateDir, "manifest.json")),
      files.get("/feed/manifest.json"),
    );
  });

  test("the active sha is up to date, and the next poll is one request answered 304", async (t) => {
    const dirs = await setup(t);
    await installActive(dirs.installDir, "1100000bbbb", "1.1.0");
    const config = await loadConfig(dirs.configFile);
    const first = await runCheck(config, agentDeps());
    assert.equal(first.status, "up_to_date");
    assert.equal(first.not_modified, false);
    const second = await runCheck(config, agentDeps());
    assert.equal(second.status, "up_to_date");
    assert.equal(second.not_modified, true);
    assert.equal(manifestRequests().length, 2);
    assert.equal(signatureRequests().length, 1);
    assert.ok(manifestRequests()[1]?.headers["if-none-match"]);
  });

  test("after a 304 a changed pin decides again from the stored manifest", async (t) => {
    const dirs = await setup(t);
    await installActive(dirs.installDir, "1100000bbbb", "1.1.0");
    await runCheck(await loadConfig(dirs.configFile), agentDeps());
    await writeFile(
      join(`${dirs.configFile}`),
      `${await readFile(dirs.configFile, "utf8")}\n[pin]\nversion = "1.0.0"\n`,
    );
    const pinned = await runCheck(await loadConfig(dirs.configFile), agentDeps());
    assert.equal(pinned.not_modified, true);
    assert.equal(pinned.status, "update_available");
    assert.equal(pinned.to.version, "1.0.0");
  });

  test("a stored manifest that has expired is refused even when the master answers 304", async (t) => {
    const dirs = await setup(t);
    const config = await loadConfig(dirs.configFile);
    await runCheck(config, agentDeps());
    // after the manifest expires (7 days), before the test certificates do
    const later = () => new Date(Date.now() + 10 * 86_400_000);
    await assert.rejects(runCheck(config, agentDeps({ now: later })), { code: "E_EXPIRED" });
    assert.equal(manifestRequests().at(-1)?.headers["if-none-match"] !== undefined, true);
  });

  test("a stored manifest that no longer matches state.json is not trusted for a 304", async (t) => {
    const dirs = await setup(t);
    const config = await loadConfig(dirs.configFile);
    await runCheck(config, agentDeps());
    await writeFile(join(dirs.stateDir, "manifest.json"), "{}");
    const result = await runCheck(config, agentDeps());
    assert.equal(result.not_modified, false);
    assert.equal(manifestRequests()[1]?.headers["if-none-match"], undefined);
  });

  test("pin.hold says held and names what it would do", async (t) => {
    const dirs = await setup(t, { pin: { hold: true } });
    await installActive(dirs.installDir, "1000000aaaa", "1.0.0");
    const result = await runCheck(await loadConfig(dirs.configFile), agentDeps());
    assert.equal(result.status, "held");
    assert.match(result.reason, /would update: 1\.1\.0/);
  });

  test("a corrupt state.json is moved aside and every manifest refused until clear --state", async (t) => {
    const dirs = await setup(t);
    const config = await loadConfig(dirs.configFile);
    await runCheck(config, agentDeps());
    const statePath = join(dirs.stateDir, "state.json");
    await writeFile(statePath, '{"schema":1,"highest_serial":');
    await assert.rejects(runCheck(config, agentDeps()), (error: Error & { code?: string }) => {
      assert.equal(error.code, "E_STATE");
      assert.match(
        error.message,
        new RegExp(
          `^state ${statePath}: corrupt \\(not valid JSON\\), moved to ${statePath}\\.corrupt-[0-9TZ-]+; manifests are refused until 'decnet-updater clear --state' or the file is restored$`,
        ),
      );
      return true;
    });
    const aside = (await readdir(dirs.stateDir)).filter((name) =>
      name.startsWith("state.json.corrupt-"),
    );
    assert.equal(aside.length, 1);
    assert.equal(
      await readFile(join(dirs.stateDir, aside[0] as string), "utf8"),
      '{"schema":1,"highest_serial":',
    );
    // still refused on the next run: never silently a fresh state that would accept an older serial
    await assert.rejects(runCheck(config, agentDeps()), {
      code: "E_STATE",
      message: /found corrupt \(not valid JSON\) and moved to/,
    });
    assert.match(await runClear(config, { state: true }), /reset/);
    assert.equal((await runCheck(config, agentDeps())).status, "update_available");
  });
});
