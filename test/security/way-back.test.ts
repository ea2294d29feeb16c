/**
 * Issue 15, points 19-20: the way back. One host, real venvs and the fixture
 * agent, goes 1.0.0 -> 2.0.0 (which adds a unit) -> a broken 3.0.0 that is
 * rolled back; then the manual `rollback`, to a marked release (refused,
 * then forced), and a manual rollback killed half way and recovered.
 */
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { type Host, health, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import {
  startMtlsServer,
  staticDir,
  type TestServer,
  withReports,
} from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec, type ReleaseSpec } from "../helpers/release.js";
import { snapshot } from "../helpers/snapshot.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

const SHA1 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const SHA2 = "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2";
const SHA3 = "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3";
const unit = (body: string) => `[Unit]\nDescription=${body}\n\n[Service]\nExecStart=/bin/true\n`;

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let host: Host;
let feedDir: string;
const reports: Array<{ id: string; status: string; manual?: boolean; to: { sha: string } }> = [];

const publish = (spec: ReleaseSpec) =>
  publishSpec(join(root, "build"), feedDir, signer.keyFile, spec);
async function cli(...args: string[]) {
  const result = await runCli([...args, "--config", host.configFile, "--json"]);
  return { ...result, json: result.stdout ? JSON.parse(result.stdout) : null };
}
const slotSha = async (slot: string) =>
  JSON.parse(
    await readFile(join(host.installDir, "releases", slot, ".decnet-release.json"), "utf8"),
  ).sha as string;

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-way-back-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  feedDir = join(root, "feed");
  server = await startMtlsServer(pki, withReports(staticDir(feedDir), reports).handler);
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`, {
    reportUrl: `${server.url}/reports`,
  });
});
after(async () => {
  if (host) await killAgent(host.installDir);
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the way back", { concurrency: false, skip: PYTHON_SKIP }, () => {
  test("point 19: after an automatic rollback releases/prev holds the last good release, and `rollback` goes there", async () => {
    await publish({ version: "1.0.0", sha: SHA1, units: { "decnet-agent.service": unit("v1") } });
    assert.equal((await cli("update")).code, 0);
    await publish({
      version: "2.0.0",
      sha: SHA2,
      units: { "decnet-agent.service": unit("v2"), "decnet-extra.service": unit("added by v2") },
    });
    assert.equal((await cli("update")).code, 0);
    await publish({ version: "3.0.0", sha: SHA3, health: "broken" });
    const bad = await cli("update");
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.json.status, "rolled_back");
    assert.equal(await slotSha("active"), SHA2);
    assert.equal(await slotSha("prev"), SHA1, "the last good release, not 3.0.0");
    assert.equal(await slotSha("failed"), SHA3, "the failed one is kept aside");
    await assert.rejects(access(join(host.installDir, "releases/older")), { code: "ENOENT" });
    await access(join(host.installDir, "venvs", SHA1, "bin/decnet"));

    const back = await cli("rollback");
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.json.to.sha, SHA1);
    assert.equal((await health(pki, host.port))?.sha, SHA1);
    await assertTrustedTree(host.installDir, host.stateDir, host.unitsDir);
  });

  test("point 20: the manual rollback removes the unit files the newer release added", async () => {
    assert.equal(await readFile(join(host.unitsDir, "decnet-agent.service"), "utf8"), unit("v1"));
    await assert.rejects(readFile(join(host.unitsDir, "decnet-extra.service")), { code: "ENOENT" });
  });

  test("point 20: a manual rollback never goes to a release marked failed without --force", async () => {
    // 1.0.0 is live, 2.0.0 in prev; mark 2.0.0 as a release that failed on this host.
    const statePath = join(host.stateDir, "state.json");
    const state = JSON.parse(await readFile(statePath, "utf8"));
    state.failed_releases[SHA2] = {
      version: "2.0.0",
      marked_at: "2026-11-30T00:00:00.000Z",
      attempts: 1,
      error: "rolled back: unhealthy",
    };
    await writeFile(statePath, JSON.stringify(state));
    const before = await snapshot(host.installDir);
    const refused = await cli("rollback");
    assert.equal(refused.code, 1);
    assert.equal(
      refused.json.error,
      `${join(host.installDir, "releases/prev")} holds 2.0.0 (a2a2a2a2a2a2), marked failed on this host at 2026-11-30T00:00:00.000Z (rolled back: unhealthy); roll back to it anyway with --force`,
    );
    assert.equal(refused.stderr.includes(refused.json.error), true, "the line is on stderr too");
    assert.deepEqual(await snapshot(host.installDir), before);
    assert.equal((await health(pki, host.port))?.sha, SHA1);

    const forced = await cli("rollback", "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await health(pki, host.port))?.sha, SHA2);
  });

  test("point 20: a manual rollback killed half way is carried through at the next start and reported once", async () => {
    const before = reports.length;
    const killed = await runCli(["rollback", "--config", host.configFile], {
      env: { DECNET_UPDATER_FAILPOINT: "mid-rollback" },
    });
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    const inflight = JSON.parse(await readFile(join(host.stateDir, "inflight.json"), "utf8"));
    assert.equal(inflight.kind, "rollback");

    const next = await cli("update");
    assert.ok([0, 2].includes(next.code ?? -1), next.stderr);
    await assert.rejects(access(join(host.stateDir, "inflight.json")), { code: "ENOENT" });
    assert.equal(await slotSha("active"), SHA1);
    assert.equal(await readlink(join(host.installDir, "venv")), `venvs/${SHA1}`);
    assert.equal((await health(pki, host.port))?.sha, SHA1);
    const settled = reports.slice(before).filter((r) => r.id === inflight.report_id);
    assert.deepEqual(
      settled.map((r) => [r.status, r.manual, r.to.sha]),
      [["rolled_back", true, SHA1]],
    );
    await assertTrustedTree(host.installDir, host.stateDir, host.unitsDir);
  });
});
