/**
 * The daemon under a real systemd 252 (issue 17): the updater's release
 * tarball installed by the README's own commands, the shipped
 * decnet-updater.service enabled as step 5 says, `restart.mode` at its
 * default ("auto": DECNET's agent is a systemd unit of its release). Each
 * test goes on from the machine the one before left, as a host's life does.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { TomlTables } from "../../helpers/config.js";
import { OFFLINE_INSTALL } from "../../helpers/e2e.js";
import { PYTHON_SKIP } from "../../helpers/python.js";
import { type Machine, SYSTEMD_SKIP } from "../../helpers/systemd/machine.js";
import {
  configureHost,
  installDaemonUnit,
  type Master,
  publishApp,
  type RealHost,
  startRealHost,
} from "../../helpers/systemd/updater-host.js";

const skip = SYSTEMD_SKIP || PYTHON_SKIP;
const UPDATER = "decnet-updater.service";
const JQ_SKIP = ["/usr/bin/jq", "/usr/local/bin/jq"].some((path) => existsSync(path))
  ? false
  : "needs jq for the README's journal recipe (apt-get install jq)";

describe("decnet-updater.service under a real systemd", { skip }, () => {
  let host: RealHost;
  let master: Master;
  let machine: Machine;
  let port: number;
  let sha = 0;
  const nextSha = () => (++sha).toString(16).padStart(40, "0");
  /** 1.1.0's agent unit: it sets an environment variable the test can see. */
  const unit110 = () =>
    [
      "[Unit]",
      "Description=DECNET agent 1.1.0 (test fixture)",
      "[Service]",
      "Environment=DECNET_FIXTURE_UNIT=1.1.0",
      `ExecStart=/opt/decnet/venv/bin/decnet agent --port ${port} --cert /etc/decnet/agent/server.crt --key /etc/decnet/agent/server.key --ca /etc/decnet/agent/ca.crt`,
      "Restart=on-failure",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n");

  const state = async () =>
    JSON.parse(await readFile(machine.path("/var/lib/decnet-updater/state.json"), "utf8"));
  const configure = (extra: TomlTables = {}) =>
    configureHost(machine, master, { agentPort: port, extra });
  /** The updater's journal since `cursor` (a line count of an earlier journal). */
  const journalSince = async (lines: number) =>
    (await machine.journal("decnet-updater")).split("\n").slice(lines).join("\n");
  const journalLines = async () => (await machine.journal("decnet-updater")).split("\n").length;

  before(async () => {
    host = await startRealHost("daemon");
    ({ master, machine, port } = host);
  });

  after(async () => {
    await host?.destroy();
  });

  test("the README's install: enable --now installs the first release, the agent runs under systemd", async () => {
    await publishApp(master, { version: "1.0.0", sha: nextSha(), port });
    await configure();
    await installDaemonUnit(machine);
    const report = await master.report("updated to 1.0.0", (r) => r.to?.version === "1.0.0");
    assert.equal(report.status, "updated", JSON.stringify(report));
    assert.equal((await machine.run(["systemctl", "is-active", "decnet-agent"])).trim(), "active");
    const names = report.steps.map((step) => step.name);
    assert.ok(names.includes("preflight") && names.includes("restart"), names.join(","));
  });

  test("an update whose release changes its unit file: the agent runs the new unit", async () => {
    const unit = unit110();
    await publishApp(master, {
      version: "1.1.0",
      sha: nextSha(),
      port,
      units: { "decnet-agent.service": unit },
    });
    await machine.run(["systemctl", "restart", UPDATER]);
    const report = await master.report("of 1.1.0", (r) => r.to?.version === "1.1.0");
    assert.equal(report.status, "updated", JSON.stringify(report));
    const agent = await machine.show("decnet-agent.service", ["Environment", "ActiveState"]);
    assert.deepEqual(agent, { Environment: "DECNET_FIXTURE_UNIT=1.1.0", ActiveState: "active" });
  });

  test("a release whose agent answers unhealthy is rolled back; the error names the unit's state", async () => {
    await publishApp(master, { version: "1.2.0", sha: nextSha(), port, health: "broken" });
    await machine.run(["systemctl", "restart", UPDATER]);
    const report = await master.report("of 1.2.0", (r) => r.to?.version === "1.2.0", 120_000);
    assert.equal(report.status, "rolled_back", JSON.stringify(report));
    assert.match(report.error ?? "", /decnet-agent\.service is active/);
    assert.equal((await machine.run(["systemctl", "is-active", "decnet-agent"])).trim(), "active");
  });

  test("a crash-looping release hits the start limit: the rollback still brings the old agent back", async () => {
    // probe.attempts = 10: the probe gives up after 5 s, inside systemd's 10 s interval, so the
    // rollback's restart meets the unit in "failed (start-limit-hit)". Today's code: rollback_failed.
    await configure({ probe: { attempts: 10, backoff_s: 0.5, soak_s: 1 } });
    // As on a host whose agent has run for a while: the agent's last start (the rollback just
    // before) falls out of systemd's 10 s start-limit window before the bad release's first one,
    // so the window that trips is the crash loop's own, and the rollback comes inside it.
    await sleep(10_000);
    // The same unit as the running 1.1.0: no daemon-reload on the way back, which would
    // reset systemd's start-limit counter and hide the refusal.
    await publishApp(master, {
      version: "1.3.0",
      sha: nextSha(),
      port,
      health: "crash",
      units: { "decnet-agent.service": unit110() },
    });
    await machine.run(["systemctl", "restart", UPDATER]);
    const report = await master.report("of 1.3.0", (r) => r.to?.version === "1.3.0", 120_000);
    assert.equal(report.status, "rolled_back", JSON.stringify(report));
    assert.match(report.error ?? "", /start-limit-hit/);
    const agent = await machine.show("decnet-agent.service", ["ActiveState", "Environment"]);
    assert.deepEqual(agent, { ActiveState: "active", Environment: "DECNET_FIXTURE_UNIT=1.1.0" });
    assert.ok((await state()).failed_releases, "state.json has failed_releases");
    assert.equal(Object.keys((await state()).failed_releases).length, 2, "1.2.0 and 1.3.0 marked");
  });

  test("systemctl stop in the middle of pip gives the update up at once: no report, nothing counted, then it retries", async () => {
    await configure({
      install: { command: ["sh", "-c", 'sleep 300 && exec "$@"', "sh", ...OFFLINE_INSTALL] },
    });
    const before = await state();
    const reports = master.reports.length;
    await publishApp(master, { version: "1.4.0", sha: nextSha(), port });
    await machine.run(["systemctl", "restart", UPDATER]);
    await machine.until("pip's stand-in (sleep 300) to run", async () => {
      const found = await machine.exec(["pgrep", "-f", "sleep 300"]);
      return found.code === 0;
    });
    const started = Date.now();
    await machine.run(["systemctl", "stop", UPDATER], { timeoutMs: 120_000 });
    const stopMs = Date.now() - started;
    assert.ok(stopMs < 40_000, `systemctl stop took ${stopMs} ms (the update ran on to its end)`);
    const unit = await machine.show(UPDATER, ["ActiveState", "Result"]);
    assert.deepEqual(unit, { ActiveState: "inactive", Result: "success" });
    assert.equal(master.reports.length, reports, "no report of a given-up update");
    assert.deepEqual(
      await machine.run(["ls", "-A", "/var/lib/decnet-updater/outbox"]).then((s) => s.trim()),
      "",
    );
    assert.equal(existsSync(machine.path("/opt/decnet/releases/active.new")), false);
    const after = await state();
    assert.deepEqual(after.update_times, before.update_times, "not counted against the budget");
    assert.deepEqual(after.failed_releases, before.failed_releases, "not marked");
    assert.deepEqual(after.retries, before.retries, "no backoff");
    assert.equal(after.last_result.status, "interrupted");
    // The next start tries again, and installs it.
    await configure();
    await machine.run(["systemctl", "start", UPDATER]);
    const report = await master.report("of 1.4.0", (r) => r.to?.version === "1.4.0", 120_000);
    assert.equal(report.status, "updated", JSON.stringify(report));
  });

  /** Asserts the daemon started in this round (journal from `lines` on) still runs, as `pid`. */
  const stillRunning = async (lines: number, pid: string, what: string) => {
    await sleep(1000);
    const unit = await machine.show(UPDATER, ["ActiveState", "SubState", "MainPID"]);
    assert.deepEqual(unit, { ActiveState: "active", SubState: "running", MainPID: pid }, what);
    const since = `\n${await journalSince(lines)}`;
    const started = since.slice(since.lastIndexOf("\nStarted decnet-updater.service"));
    assert.match(started, /^\nStarted /, `${what}: no start in the journal`);
    assert.doesNotMatch(started, /Deactivated|Main process exited|Stopped/, what);
  };

  test("a systemctl reload right after a start never ends the daemon", async () => {
    for (const delay of [0, 0.1, 0.3]) {
      await machine.run(["systemctl", "stop", UPDATER]);
      await machine.run(["systemctl", "reset-failed", UPDATER]); // the test's own starts: not a crash loop
      const lines = await journalLines();
      // configuration management's way: a drop-in, then a reload, right after the start
      await machine.sh(
        `systemctl start --no-block ${UPDATER}; sleep ${delay}; systemctl reload ${UPDATER}`,
      );
      const { MainPID } = await machine.show(UPDATER, ["MainPID"]);
      await stillRunning(lines, MainPID as string, `reload ${delay} s after the start`);
    }
    // and after a restart: `systemctl restart` returns once the new daemon said READY=1
    await machine.run(["systemctl", "reset-failed", UPDATER]);
    const lines = await journalLines();
    await machine.sh(`systemctl restart ${UPDATER}; systemctl reload ${UPDATER}`);
    const { MainPID } = await machine.show(UPDATER, ["MainPID"]);
    await stillRunning(lines, MainPID as string, "reload right after a restart");
  });

  // Below what Type=notify holds back: a raw SIGHUP 0, 0.1 and 0.3 s after the program's first
  // line caught it, inside the 0.4-0.6 s `run` used to take to listen. Node's own start before
  // that line (~40 ms, every signal at its default) stays open: RestartForceExitStatus=SIGHUP
  // restarts a daemon killed there.
  test("a raw SIGHUP right after the daemon's exec is held and taken as a reload", async () => {
    for (const how of ["start", "restart"])
      for (const delay of [0, 0.1, 0.3]) {
        const what = `SIGHUP ${delay} s after the daemon caught it (${how})`;
        const { MainPID: old } = await machine.show(UPDATER, ["MainPID"]);
        if (how === "start") await machine.run(["systemctl", "stop", UPDATER]);
        await machine.run(["systemctl", "reset-failed", UPDATER]);
        const lines = await journalLines();
        await machine.run(["systemctl", how, "--no-block", UPDATER]);
        // Node runs main.ts's first line: SIGHUP is caught (bit 0 of SigCgt), long before `run`
        // listens. Polling for that, not a fixed time after exec, keeps a loaded machine from
        // sending it inside Node's own start, which resets every signal (see the note above).
        const pid = await machine.until(
          `the new daemon's node, catching SIGHUP (${how})`,
          async () => {
            const { MainPID } = await machine.show(UPDATER, ["MainPID"]);
            if (!MainPID || MainPID === "0" || MainPID === old) return null;
            const status = await machine.exec(["cat", `/proc/${MainPID}/status`]);
            const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status.stdout)?.[1];
            const node = /^Name:\s*node$/m.test(status.stdout);
            return node && caught && (BigInt(`0x${caught}`) & 1n) === 1n ? MainPID : null;
          },
          10_000,
        );
        await sleep(delay * 1000);
        await machine.run(["kill", "-HUP", pid]);
        await stillRunning(lines, pid, what);
        await machine.until(`${what}: the reload's line`, async () =>
          (await journalSince(lines)).includes("Configuration reloaded."),
        );
      }
  });

  test("the README's journal recipe reads the daemon's JSON lines past systemd's own", {
    skip: JQ_SKIP,
  }, async () => {
    const readme = await readFile(new URL("../../../README.md", import.meta.url), "utf8");
    const recipe = readme.match(/`(journalctl -u decnet-updater -o cat \| jq [^`]+)`/)?.[1];
    assert.ok(recipe, "README.md gives a journalctl | jq recipe");
    await machine.run(["systemctl", "reload", UPDATER]);
    await machine.until("the reload's line", async () =>
      (await machine.journal("decnet-updater")).includes("Configuration reloaded."),
    );
    const out = await machine.sh(recipe.replace("| jq ", "| jq -c "));
    const lines = out.trim().split("\n");
    assert.ok(lines.length > 20, `${lines.length} lines`);
    for (const line of lines) assert.equal(JSON.parse(line).name, "decnet-updater", line);
    assert.ok(lines.some((line) => JSON.parse(line).msg === "Configuration reloaded."));
    // the journal holds systemd's own lines too, which the plain `| jq` choked on
    assert.match(await machine.journal("decnet-updater"), /^Started |\nStarted /);
    for (const step of ["fetch", "preflight", "download", "install", "restart"]) {
      const line = lines
        .map((l) => JSON.parse(l))
        .find((l) => l.step === step && l.msg === `Step ${step} done.`);
      assert.ok(line, `the line of step ${step}'s end`);
      for (const field of ["ms", "sha", "version"]) assert.ok(field in line, `${step}: ${field}`);
    }
  });

  test("metrics.textfile: node_exporter's folder is writable; a path outside the sandbox is named at start and at a reload", async () => {
    await machine.run(["mkdir", "-p", "/var/lib/prometheus/node-exporter", "/srv/metrics"]);
    const textfile = "/var/lib/prometheus/node-exporter/decnet_updater.prom";
    await configure({ metrics: { textfile } });
    await machine.run(["systemctl", "restart", UPDATER]);
    await machine.until("the metrics textfile", async () => existsSync(machine.path(textfile)));
    assert.match(
      await readFile(machine.path(textfile), "utf8"),
      /^decnet_updater_last_check_timestamp_seconds /m,
    );

    const lines = await journalLines();
    // moved by a reload, as configuration management would: checked then too, not only at start
    await configure({ metrics: { textfile: "/srv/metrics/decnet_updater.prom" } });
    await machine.run(["systemctl", "reload", UPDATER]);
    const line = await machine.until("the line naming metrics.textfile", async () =>
      (await journalSince(lines))
        .split("\n")
        .find((l) => l.includes('"config_key":"metrics.textfile"')),
    );
    assert.match(
      JSON.parse(line).msg,
      /^metrics\.textfile: cannot write \/srv\/metrics\/decnet_updater\.prom \(read-only file system\); /,
    );
    await configure();
    await machine.run(["systemctl", "restart", UPDATER]);
  });

  test("systemd-analyze security: both shipped units score 2.0 or better", async () => {
    await machine.run([
      "cp",
      "/opt/decnet-updater/current/systemd/decnet-updater-oneshot.service",
      "/etc/systemd/system/",
    ]);
    await machine.run(["systemctl", "daemon-reload"]);
    for (const unit of [UPDATER, "decnet-updater-oneshot.service"]) {
      const out = (await machine.exec(["systemd-analyze", "security", "--no-pager", unit])).stdout;
      const score = Number(out.match(/Overall exposure level for \S+: ([\d.]+)/)?.[1]);
      assert.ok(score <= 2.0, `${unit}: ${score}\n${out}`);
    }
  });
});
