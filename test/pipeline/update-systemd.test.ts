/**
 * systemd mode end to end, with a fixture `systemctl` first on PATH that
 * runs the ExecStart of the unit file the updater synced. restart.mode is
 * "auto" and INVOCATION_ID is set, as under a real service.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { agentCommand, type Host, health, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import {
  startMtlsServer,
  staticDir,
  type TestServer,
  withReports,
} from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec } from "../helpers/release.js";

const FIXTURE_BIN = resolve(import.meta.dirname, "../fixtures/bin");
const SHA1 = "aaaa111111111111111111111111111111111111";
const SHA2 = "bbbb222222222222222222222222222222222222";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let host: Host;
let systemctlDir: string;
/** What the master received. */
const reports: Array<{ id: string; status: string }> = [];

function agentUnit(comment: string): string {
  const exec = agentCommand(pki, host.port, host.installDir).join(" ");
  return `[Unit]\nDescription=DECNET agent (${comment})\n\n[Service]\nExecStart=${exec}\n`;
}

async function update() {
  const result = await runCli(["update", "--config", host.configFile, "--json"], {
    env: {
      PATH: `${FIXTURE_BIN}:${process.env.PATH}`,
      INVOCATION_ID: "test-invocation",
      FIXTURE_SYSTEMCTL_DIR: systemctlDir,
      FIXTURE_UNITS_DIR: host.unitsDir,
    },
  });
  return { ...result, json: result.stdout ? JSON.parse(result.stdout) : null };
}

const calls = async () =>
  (await readFile(join(systemctlDir, "calls.log"), "utf8")).trim().split("\n");

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-systemd-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  const receiver = withReports(staticDir(join(root, "feed")), reports);
  server = await startMtlsServer(pki, receiver.handler);
  systemctlDir = join(root, "systemctl");
  await mkdir(systemctlDir);
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`, {
    mode: "auto" as "systemd",
    reportUrl: `${server.url}/reports`,
  });
});
after(async () => {
  const pid = Number(
    (
      await readFile(
        join(systemctlDir ?? "/nonexistent", "decnet-agent.service.pid"),
        "utf8",
      ).catch(() => "")
    ).trim(),
  );
  try {
    if (pid > 0) process.kill(pid, "SIGKILL");
  } catch {
    // the agent is already gone
  }
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("update in systemd mode, with a fixture systemctl", {
  concurrency: false,
  skip: PYTHON_SKIP,
}, () => {
  test("installs v1: syncs its unit, daemon-reloads, restarts through systemctl, records MainPID", async () => {
    await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
      version: "1.0.0",
      sha: SHA1,
      units: { "decnet-agent.service": agentUnit("v1") },
    });
    const result = await update();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.json.status, "updated");
    assert.deepEqual(await calls(), [
      "daemon-reload",
      // a unit a crash loop left in "failed (start-limit-hit)" would refuse the restart
      "reset-failed decnet-agent.service",
      "restart decnet-agent.service",
      "show -p MainPID --value decnet-agent.service",
    ]);
    const mainPid = (await readFile(join(systemctlDir, "decnet-agent.service.pid"), "utf8")).trim();
    assert.equal((await readFile(join(host.installDir, "agent.pid"), "utf8")).trim(), mainPid);
    assert.equal((await health(pki, host.port))?.sha, SHA1);
  });

  test("a v2 that crashes at start is rolled back: its units are reverted and v1 runs from v1's unit", async () => {
    await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
      version: "2.0.0",
      sha: SHA2,
      health: "crash",
      units: {
        "decnet-agent.service": agentUnit("v2"),
        "decnet-extra.service": "[Service]\nExecStart=/bin/true\n",
      },
    });
    await rm(join(systemctlDir, "calls.log"));
    const result = await update();
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.json.status, "rolled_back");
    assert.deepEqual(await calls(), [
      "daemon-reload", // v2's units written
      "reset-failed decnet-agent.service",
      "restart decnet-agent.service",
      "show -p MainPID --value decnet-agent.service",
      // the probe failed: the unit's state for the error line, and whether systemd shuts down
      "show decnet-agent.service --property=LoadState,ActiveState,Result,NRestarts,StartLimitBurst",
      "is-system-running",
      "daemon-reload", // v1's units restored
      "reset-failed decnet-agent.service",
      "restart decnet-agent.service",
      "show -p MainPID --value decnet-agent.service",
    ]);
    assert.equal(
      await readFile(join(host.unitsDir, "decnet-agent.service"), "utf8"),
      agentUnit("v1"),
    );
    await assert.rejects(readFile(join(host.unitsDir, "decnet-extra.service")), { code: "ENOENT" });
    assert.equal((await health(pki, host.port))?.sha, SHA1);
  });

  test("a shutdown during the probe: interrupted (75, no report), left alone by a recovery during the shutdown, settled after it", async (t) => {
    t.after(async () => {
      await rm(join(systemctlDir, "system-state"), { force: true });
      await rm(`${host.configFile}.d`, { recursive: true, force: true });
    });
    const SHA4 = "dddd444444444444444444444444444444444444";
    // nothing sent, and nothing queued to be sent later either
    const queued = async () =>
      (await readdir(join(host.stateDir, "outbox")).catch(() => [])).filter((f) =>
        f.endsWith(".json"),
      );
    const inflight = async () =>
      JSON.parse(await readFile(join(host.stateDir, "inflight.json"), "utf8"));
    await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
      version: "4.0.0",
      sha: SHA4,
      health: "broken",
      units: { "decnet-agent.service": agentUnit("v4") },
    });
    // a short probe: the release answers 500 whatever happens
    await mkdir(`${host.configFile}.d`, { recursive: true });
    await writeFile(`${host.configFile}.d/50-probe.toml`, "[probe]\nattempts = 3\n");
    await writeFile(join(systemctlDir, "system-state"), "stopping\n");
    const received = reports.length;

    const first = await update();
    assert.equal(first.code, 75, first.stderr);
    assert.equal(first.json.status, "interrupted");
    assert.equal(first.json.code, "E_STOPPED");
    assert.match(first.json.error, /^the system is shutting down \(unhealthy after/);
    assert.equal(reports.length, received, "nothing reported while the system shuts down");
    assert.deepEqual(await queued(), []);
    const record = await inflight();
    assert.equal(record.phase, "interrupted");

    // a start while the system still shuts down: recovery cannot settle it, and nothing runs after it
    const again = await update();
    assert.equal(again.code, 75, again.stderr);
    assert.match(
      again.stderr,
      /the system is shutting down while recovery settled an interrupted update/,
    );
    assert.equal(reports.length, received);
    assert.deepEqual(await queued(), []);
    assert.deepEqual(
      { phase: (await inflight()).phase, id: (await inflight()).report_id },
      { phase: "interrupted", id: record.report_id },
    );

    // the next boot: recovery restarts and probes the release, which fails, and rolls it back
    await rm(join(systemctlDir, "system-state"));
    const after = await update();
    const settled = reports.slice(received).find((r) => r.id === record.report_id);
    assert.ok(
      settled,
      `the interrupted update's report, under its id: ${JSON.stringify(reports.slice(received))} (${after.stderr.slice(-500)})`,
    );
    assert.equal(settled.status, "rolled_back");
    assert.equal((await health(pki, host.port))?.sha, SHA1);
  });

  test("when the previous release cannot come back either, the rollback fails: exit 3", async () => {
    // v1's venv loses its entry point, so v1's unit cannot start the agent any more.
    await rm(join(host.installDir, "venvs", SHA1, "bin/decnet"));
    await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
      version: "3.0.0",
      sha: "cccc333333333333333333333333333333333333",
      health: "crash",
      units: { "decnet-agent.service": agentUnit("v3") },
    });
    const result = await update();
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.json.status, "rollback_failed");
    assert.equal(result.json.code, "E_ROLLBACK");
    assert.match(
      result.json.error,
      /^the previous release 1\.0\.0 is not healthy either: unhealthy after \d+ probes \(60 x 0\.2 s\): /,
    );
    assert.deepEqual(result.json.steps.at(-1), {
      ...result.json.steps.at(-1),
      name: "rollback",
      ok: false,
    });
    // the host is at fault here (v1 cannot start), not v3: a failed rollback never marks a release
    const status = await runCli(["status", "--config", host.configFile, "--json"]);
    // v2 was marked by the previous test (rolled back, v1 healthy); v3 must not be
    const marked = Object.keys(JSON.parse(status.stdout).failed_releases);
    assert.ok(marked.includes(SHA2), marked.join(", "));
    assert.ok(!marked.includes("cccc333333333333333333333333333333333333"), marked.join(", "));
  });
});
