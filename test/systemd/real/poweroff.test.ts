/**
 * `systemctl poweroff` during an update, and the next boot (issue 17,
 * defect 3), under a real systemd: one machine whose overlay outlives its
 * shutdowns, so the second boot finds what the first one left.
 *
 * Before `rotate` nothing live has changed: the stop gives the update up
 * (no report, not marked, not counted) and the next boot installs it. After
 * `rotate` systemd refuses to start units while it shuts down: that is no
 * verdict on the release. The update is left "interrupted" for recovery,
 * which restarts the agent and probes it at the next boot.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
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

describe("a poweroff during an update, then the next boot", { skip }, () => {
  let host: RealHost;
  let master: Master;
  let machine: Machine;
  let port: number;
  const configure = (extra: TomlTables = {}) =>
    configureHost(machine, master, { agentPort: port, extra });
  const activeVersion = async () =>
    JSON.parse(
      await readFile(machine.path("/opt/decnet/releases/active/.decnet-release.json"), "utf8"),
    ).version;
  /** The reports queued in the outbox, read while the machine is down. */
  const outbox = () =>
    readdirSync(machine.layerPath("/var/lib/decnet-updater/outbox")).filter((f) =>
      f.endsWith(".json"),
    );
  /** Powers off and returns how long the shutdown took, failing if it had to be killed. */
  const poweroff = async () => {
    const started = Date.now();
    await machine.poweroff(90_000);
    return Date.now() - started;
  };

  before(async () => {
    host = await startRealHost("poweroff");
    ({ master, machine, port } = host);
    await publishApp(master, { version: "1.0.0", sha: "1".repeat(40), port });
    await configure();
    await installDaemonUnit(machine);
    await master.report("of 1.0.0", (r) => r.to?.version === "1.0.0" && r.status === "updated");
  });

  after(async () => {
    await host?.destroy();
  });

  test("while pip runs: the shutdown gives the update up at once, the next boot installs it", async () => {
    await configure({
      install: { command: ["sh", "-c", 'sleep 300 && exec "$@"', "sh", ...OFFLINE_INSTALL] },
    });
    await publishApp(master, { version: "1.1.0", sha: "2".repeat(40), port });
    await machine.run(["systemctl", "restart", "decnet-updater"]);
    await machine.until("pip's stand-in (sleep 300) to run", async () => {
      return (await machine.exec(["pgrep", "-f", "sleep 300"])).code === 0;
    });
    const reports = master.reports.length;
    const shutdownMs = await poweroff();
    assert.ok(shutdownMs < 40_000, `the shutdown took ${shutdownMs} ms: it waited for pip`);
    assert.equal(master.reports.length, reports, "no report from the shutdown");
    // nor one queued for the next boot
    assert.deepEqual(outbox(), []);
    assert.equal(existsSync(machine.layerPath("/var/lib/decnet-updater/inflight.json")), false);
    const left = JSON.parse(
      await readFile(machine.layerPath("/var/lib/decnet-updater/state.json"), "utf8"),
    );
    assert.equal(left.last_result.status, "interrupted");
    assert.deepEqual(left.failed_releases, {});
    assert.equal(left.update_times.length, 1, "only the first install counts");

    await configure(); // pip without the sleep, for the next boot
    await machine.boot();
    const report = await master.report("of 1.1.0", (r) => r.to?.version === "1.1.0", 120_000);
    assert.equal(report.status, "updated", JSON.stringify(report));
    assert.equal(await activeVersion(), "1.1.0");
    assert.equal(master.reports.filter((r) => r.to?.version === "1.1.0").length, 1);
  });

  test("during the probe after rotate: no rollback_failed; the next boot restarts, probes and reports one update", async () => {
    await configure({ probe: { soak_s: 60 } });
    await publishApp(master, { version: "1.2.0", sha: "3".repeat(40), port });
    await machine.run(["systemctl", "restart", "decnet-updater"]);
    await machine.until("the agent of 1.2.0 restarted and on probation", async () => {
      const inflight = await readFile(
        machine.path("/var/lib/decnet-updater/inflight.json"),
        "utf8",
      ).catch(() => "{}");
      return JSON.parse(inflight).phase === "restarted";
    });
    const reports = master.reports.length;
    const shutdownMs = await poweroff();
    assert.ok(shutdownMs < 45_000, `the shutdown took ${shutdownMs} ms`);
    assert.equal(master.reports.length, reports, "nothing reported while the system went down");
    assert.deepEqual(outbox(), []);
    const inflight = JSON.parse(
      await readFile(machine.layerPath("/var/lib/decnet-updater/inflight.json"), "utf8"),
    );
    assert.equal(inflight.phase, "interrupted");
    assert.equal(inflight.target.version, "1.2.0");

    await configure();
    await machine.boot();
    const report = await master.report("of 1.2.0", (r) => r.to?.version === "1.2.0", 120_000);
    assert.equal(report.status, "updated", JSON.stringify(report));
    assert.equal(await activeVersion(), "1.2.0");
    assert.equal(
      master.reports.filter((r) => r.to?.version === "1.2.0").length,
      1,
      "one report of the update",
    );
    assert.deepEqual(
      master.reports.filter((r) => r.status === "rollback_failed"),
      [],
    );
    assert.equal((await machine.run(["systemctl", "is-active", "decnet-agent"])).trim(), "active");
  });
});
