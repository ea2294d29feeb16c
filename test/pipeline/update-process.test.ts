/**
 * The whole cycle on a real install dir, process mode: real venvs, real pip
 * installing wheels offline, the fixture agent started detached and probed
 * over mTLS, the real CLI in a subprocess. One host goes through its life:
 * first install, no-op, v1 -> v2 (with a new dependency and unit changes),
 * manual rollback, v2 again, a bad v3 rolled back, and refusals that change
 * nothing live.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
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
import { parseExposition } from "../helpers/prometheus.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec, type ReleaseSpec } from "../helpers/release.js";
import { snapshot } from "../helpers/snapshot.js";

const SHA1 = "1111111111111111111111111111111111111111";
const SHA2 = "2222222222222222222222222222222222222222";
const SHA3 = "3333333333333333333333333333333333333333";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let host: Host;
let feedDir: string;
let v2Venv = "";

const unit = (body: string) => `[Unit]\nDescription=${body}\n\n[Service]\nExecStart=/bin/true\n`;

async function publish(spec: ReleaseSpec) {
  await publishSpec(join(root, "build"), feedDir, signer.keyFile, spec);
}

async function update(...extra: string[]) {
  const result = await runCli(["update", "--config", host.configFile, "--json", ...extra]);
  const json = result.stdout ? JSON.parse(result.stdout) : null;
  return { ...result, json };
}

const reports: Array<{ id: string; status: string; from: unknown; to: { sha: string } | null }> =
  [];

const tarballRequests = () => server.requests.filter((r) => r.path.endsWith(".tar.gz"));

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-e2e-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  feedDir = join(root, "feed");
  const serveFeed = staticDir(feedDir);
  server = await startMtlsServer(pki, withReports(serveFeed, reports).handler);
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`, {
    reportUrl: `${server.url}/reports`,
    extra: { metrics: { textfile: join(root, "host/decnet_updater.prom") } },
  });
});
after(async () => {
  if (host) await killAgent(host.installDir);
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("update in process mode, end to end", { concurrency: false, skip: PYTHON_SKIP }, () => {
  test("first install: v1 installed, linked, its unit synced, the agent answers v1", async () => {
    await publish({
      version: "1.0.0",
      sha: SHA1,
      units: { "decnet-agent.service": unit("agent v1") },
    });
    const result = await update();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "updated");
    assert.equal(result.json.from, null);
    assert.deepEqual(result.json.to, { sha: SHA1, version: "1.0.0" });
    assert.deepEqual(
      result.json.steps.map((s: { name: string }) => s.name),
      [
        "fetch",
        "preflight",
        "download",
        "verify",
        "extract",
        "install",
        "smoke",
        "rotate",
        "promote",
        "units",
        "restart",
        "probe",
      ],
    );
    assert.match(result.json.report_id, /^[0-9a-f-]{36}$/);
    assert.equal((await health(pki, host.port))?.sha, SHA1);
    assert.equal(await readlink(join(host.installDir, "current")), "releases/active");
    assert.equal(await readlink(join(host.installDir, "venv")), `venvs/${SHA1}`);
    assert.equal(await readlink(host.pathLink), join(host.installDir, "venv/bin/decnet"));
    assert.equal(
      await readFile(join(host.unitsDir, "decnet-agent.service"), "utf8"),
      unit("agent v1"),
    );
    const release = JSON.parse(
      await readFile(join(host.installDir, "releases/active/.decnet-release.json"), "utf8"),
    );
    assert.equal(release.sha, SHA1);
    assert.equal(release.version, "1.0.0");
    assert.equal(release.manifest_serial, 1);
    assert.deepEqual(
      reports.map((r) => [r.status, r.from, r.to?.sha]),
      [["updated", null, SHA1]],
    );
    assert.equal(reports[0]?.id, result.json.report_id);
  });

  test("no-op: the same sha is up to date, nothing is downloaded and the agent keeps running", async () => {
    const pidBefore = (await health(pki, host.port))?.pid;
    const downloadsBefore = tarballRequests().length;
    const result = await update();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "up_to_date");
    assert.equal(tarballRequests().length, downloadsBefore);
    assert.equal((await health(pki, host.port))?.pid, pidBefore);
  });

  test("v1 -> v2: a release that adds a dependency installs it; units change and are added", async () => {
    await publish({
      version: "2.0.0",
      sha: SHA2,
      withHelper: true,
      units: { "decnet-agent.service": unit("agent v2"), "decnet-extra.service": unit("extra v2") },
    });
    // Two updates at once: one installs, the other exits 75 naming the holder.
    const [first, second] = await Promise.all([update(), sleep(300).then(() => update())]);
    const result = first.code === 75 ? second : first;
    const refused = first.code === 75 ? first : second;
    assert.equal(refused.code, 75, refused.stderr);
    assert.match(refused.json.error, /^another decnet-updater holds .*\/lock \(pid \d+\)$/);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "updated");
    assert.deepEqual(result.json.from, { sha: SHA1, version: "1.0.0" });
    const answer = await health(pki, host.port);
    assert.equal(answer?.sha, SHA2);
    assert.equal(answer?.helper, true);
    assert.equal(await readlink(join(host.installDir, "venv")), `venvs/${SHA2}`);
    assert.deepEqual((await readdir(join(host.installDir, "venvs"))).sort(), [SHA1, SHA2]);
    assert.equal(
      JSON.parse(
        await readFile(join(host.installDir, "releases/prev/.decnet-release.json"), "utf8"),
      ).sha,
      SHA1,
    );
    assert.equal(
      await readFile(join(host.unitsDir, "decnet-extra.service"), "utf8"),
      unit("extra v2"),
    );
  });

  test("manual rollback returns to v1: its venv, its units, its agent", async () => {
    const result = await runCli(["rollback", "--config", host.configFile, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.status, "rolled_back");
    assert.equal(json.manual, true);
    assert.deepEqual(json.to, { sha: SHA1, version: "1.0.0" });
    const answer = await health(pki, host.port);
    assert.equal(answer?.sha, SHA1);
    assert.equal(answer?.helper, false);
    assert.equal(await readlink(join(host.installDir, "venv")), `venvs/${SHA1}`);
    assert.equal(
      await readFile(join(host.unitsDir, "decnet-agent.service"), "utf8"),
      unit("agent v1"),
    );
  });

  test("the next update takes v2 again, in a fresh venv since v2's old one belonged to prev", async () => {
    const result = await update();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "updated");
    assert.equal((await health(pki, host.port))?.sha, SHA2);
    v2Venv = await readlink(join(host.installDir, "venv"));
    assert.match(v2Venv, new RegExp(`^venvs/${SHA2}\\.\\d+$`));
    // only the venvs of active (v2) and prev (v1) are kept
    assert.deepEqual((await readdir(join(host.installDir, "venvs"))).sort(), [
      SHA1,
      v2Venv.slice("venvs/".length),
    ]);
  });

  test("a bad v3 (unhealthy agent) is rolled back: exit 2, the agent answers v2, v2's units are back", async () => {
    await publish({
      version: "3.0.0",
      sha: SHA3,
      health: "broken",
      units: { "decnet-agent.service": unit("agent v3"), "decnet-new.service": unit("new in v3") },
    });
    const result = await update();
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.json.status, "rolled_back");
    assert.equal(result.json.code, "E_PROBE");
    assert.match(
      result.json.error,
      /^unhealthy after \d+ probes \(60 x 0\.2 s\): probe https:\/\/127\.0\.0\.1:\d+\/health: HTTP 500$/,
    );
    assert.deepEqual(result.json.steps.at(-1), {
      ...result.json.steps.at(-1),
      name: "rollback",
      ok: true,
    });
    const answer = await health(pki, host.port);
    assert.equal(answer?.sha, SHA2);
    assert.equal(answer?.helper, true);
    assert.equal(await readlink(join(host.installDir, "venv")), v2Venv);
    assert.equal(
      await readFile(join(host.unitsDir, "decnet-agent.service"), "utf8"),
      unit("agent v2"),
    );
    await assert.rejects(readFile(join(host.unitsDir, "decnet-new.service")), { code: "ENOENT" });
    assert.equal(
      JSON.parse(
        await readFile(join(host.installDir, "releases/active/.decnet-release.json"), "utf8"),
      ).sha,
      SHA2,
    );
    assert.equal(reports.at(-1)?.status, "rolled_back");
    assert.equal(reports.at(-1)?.id, result.json.report_id);
  });

  test("the bad release is marked: tried exactly once across ten cycles, its skip reported once", async () => {
    const v3Tarballs = () => tarballRequests().filter((r) => r.path.includes("3.0.0")).length;
    assert.equal(v3Tarballs(), 1);
    const reportsBefore = reports.length;
    for (let cycle = 2; cycle <= 10; cycle++) {
      const result = await update();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.json.status, "skipped");
    }
    assert.equal(v3Tarballs(), 1);
    const skips = reports.slice(reportsBefore);
    assert.deepEqual(
      skips.map((r) => [r.status, r.to?.sha]),
      [["skipped", SHA3]],
    );
    assert.equal((await health(pki, host.port))?.sha, SHA2);
  });

  test("status shows both slots and the last result", async () => {
    const result = await runCli(["status", "--config", host.configFile, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.active.sha, SHA2);
    // the last good release, never the one that just failed (issue 15, point 19)
    assert.equal(json.prev.sha, SHA1);
    assert.equal(json.last_result.status, "skipped");
    assert.deepEqual(Object.keys(json.failed_releases), [SHA3]);
    assert.equal(json.pending_reports, 0);
    const human = await runCli(["status", "--config", host.configFile]);
    assert.match(human.stdout, /^active: 2\.0\.0 \(222222222222\), installed \d{4}-/);
    assert.match(human.stdout, /\nfailed releases: 3\.0\.0 \(333333333333\) since \d{4}-/);
  });

  test("a release shipping a unit outside units.allow is refused before anything live changes", async () => {
    await publish({
      version: "4.0.0",
      sha: "4444444444444444444444444444444444444444",
      units: { "sshd.service": unit("evil") },
    });
    const before = await snapshot(host.installDir);
    const unitsBefore = await snapshot(host.unitsDir);
    const result = await update();
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.json.status, "failed");
    assert.equal(result.json.code, "E_UNITS");
    assert.equal(
      result.json.error,
      "release ships unit sshd.service outside units.allow (decnet-*.service)",
    );
    assert.deepEqual(await snapshot(host.installDir), before);
    assert.deepEqual(await snapshot(host.unitsDir), unitsBefore);
    assert.equal((await health(pki, host.port))?.sha, SHA2);
  });

  test("an install that fails changes nothing live and keeps pip's stderr", async () => {
    await publish({
      version: "5.0.0",
      sha: "5555555555555555555555555555555555555555",
      noWheels: true,
    });
    const before = await snapshot(host.installDir);
    const result = await update();
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.json.status, "failed");
    assert.equal(result.json.code, "E_INSTALL");
    assert.match(result.json.error, /^install\.command \(.*\/bin\/python\): exit 1$/);
    assert.match(result.json.stderr, /No matching distribution found for decnet/);
    assert.ok(Buffer.byteLength(result.json.stderr) <= 8192);
    assert.deepEqual(await snapshot(host.installDir), before);
    assert.equal((await health(pki, host.port))?.sha, SHA2);
  });

  test("--force reinstalls the active sha into a fresh venv and restarts the agent", async () => {
    await publish({
      version: "2.0.0",
      sha: SHA2,
      withHelper: true,
      units: { "decnet-agent.service": unit("agent v2"), "decnet-extra.service": unit("extra v2") },
    });
    const pidBefore = (await health(pki, host.port))?.pid;
    assert.equal((await update()).json.status, "up_to_date");
    const result = await update("--force");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "updated");
    const link = await readlink(join(host.installDir, "venv"));
    assert.notEqual(link, v2Venv);
    assert.match(link, new RegExp(`^venvs/${SHA2}(\\.\\d+)?$`));
    const answer = await health(pki, host.port);
    assert.equal(answer?.sha, SHA2);
    assert.notEqual(answer?.pid, pidBefore);
    assert.deepEqual(
      (await readdir(join(host.installDir, "venvs"))).sort(),
      [v2Venv, link].map((v) => v.slice(6)).sort(),
    );
  });

  test("the agent's process already gone (agent.pid names a dead pid): the update starts it anew", async () => {
    const stale = Number((await readFile(join(host.installDir, "agent.pid"), "utf8")).trim());
    await killAgent(host.installDir);
    for (let i = 0; i < 50 && (await health(pki, host.port)) !== null; i++) await sleep(100);
    assert.equal(await health(pki, host.port), null, "the agent still answers");
    const result = await update("--force");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "updated");
    const answer = await health(pki, host.port);
    assert.equal(answer?.sha, SHA2);
    assert.notEqual(answer?.pid, stale);
    assert.equal(
      Number((await readFile(join(host.installDir, "agent.pid"), "utf8")).trim()),
      answer?.pid,
    );
  });

  test("the metrics textfile counts every cycle's result and names the active release", async () => {
    const samples = parseExposition(await readFile(join(root, "host/decnet_updater.prom"), "utf8"));
    assert.equal(
      samples.get(`decnet_updater_active_release_info{sha="${SHA2}",version="2.0.0"}`),
      1,
    );
    assert.equal(samples.get('decnet_updater_updates_total{result="rolled_back"}'), 1);
    assert.equal(samples.get('decnet_updater_updates_total{result="skipped"}'), 9);
    assert.equal(samples.get('decnet_updater_updates_total{result="failed"}'), 2);
    assert.ok((samples.get('decnet_updater_updates_total{result="updated"}') ?? 0) >= 4);
    assert.equal(samples.get("decnet_updater_pending_reports"), 0);
    assert.ok((samples.get("decnet_updater_last_update_duration_seconds") ?? 0) > 0);
  });
});
