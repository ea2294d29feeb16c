/**
 * Self-update under a real systemd and the shipped, hardened daemon unit
 * (issue 17): the daemon installs a new release of itself and exits 99,
 * `RestartForceExitStatus=99` starts it again through the launcher, and the
 * new release commits on its trial. A release that cannot even start is
 * put back by the launcher after 3 starts, under `Restart=on-failure`.
 *
 * The only change to the shipped unit is a drop-in with `RestartSec=2`
 * (the unit waits 30 s), so the test does not sit through the pauses.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as tar from "tar";
import { publishRelease } from "../../../src/feed/publish.js";
import { PYTHON_SKIP } from "../../helpers/python.js";
import { type Machine, SYSTEMD_SKIP } from "../../helpers/systemd/machine.js";
import {
  configureHost,
  installDaemonUnit,
  type Master,
  packUpdater,
  publishApp,
  type RealHost,
  startRealHost,
} from "../../helpers/systemd/updater-host.js";

const skip = SYSTEMD_SKIP || PYTHON_SKIP;
const UPDATER = "decnet-updater.service";
const V1 = { version: "9.0.1", sha: "9001aaa9001aaa9001aaa9001aaa9001aaa9001a" };
const BROKEN = { version: "9.0.2", sha: "9002bbb9002bbb9002bbb9002bbb9002bbb9002b" };

describe("self-update through exit 99 and the launcher, under a real systemd", { skip }, () => {
  let host: RealHost;
  let root: string;
  let master: Master;
  let machine: Machine;
  let port: number;
  let v1Pack: string;

  const running = async () =>
    (await machine.run(["/usr/local/bin/decnet-updater", "--version"])).trim();
  const publishUpdater = (tarball: string, release: { version: string; sha: string }) =>
    publishRelease({
      feedDir: master.updaterFeed,
      component: "decnet-updater",
      tarball,
      ...release,
      keyFile: master.signer.keyFile,
      latest: true,
      rolloutPercent: 100,
      expiresInS: 86400,
      now: new Date(),
    });
  /** v1's pack, with another version and a program that dies at start. */
  const brokenPack = async () => {
    const stage = await mkdtemp(join(root, "broken-"));
    await tar.x({ file: v1Pack, cwd: stage });
    const pkg = JSON.parse(await readFile(join(stage, "package.json"), "utf8"));
    await writeFile(
      join(stage, "package.json"),
      JSON.stringify({ ...pkg, version: BROKEN.version }, null, 2),
    );
    await writeFile(
      join(stage, "dist/src/cli/main.js"),
      `#!/usr/bin/env node\nconsole.error("decnet-updater ${BROKEN.version}: broken at start");\nprocess.exit(1);\n`,
    );
    const tarball = join(root, `decnet-updater-${BROKEN.version}.tar.gz`);
    await tar.c({ gzip: true, file: tarball, cwd: stage, portable: true }, ["."]);
    return tarball;
  };

  before(async () => {
    host = await startRealHost("self");
    ({ root, master, machine, port } = host);
    v1Pack = await packUpdater(V1.version);
    await publishApp(master, { version: "1.0.0", sha: "1".repeat(40), port });
    await configureHost(machine, master, {
      agentPort: port,
      extra: {
        self_update: {
          enabled: true,
          feed_url: `${master.server.url}/updater/`,
          trusted_keys: ["/etc/decnet/updater/minisign.pub"],
        },
      },
    });
    await mkdir(machine.path(`/etc/systemd/system/${UPDATER}.d`), { recursive: true });
    await writeFile(
      machine.path(`/etc/systemd/system/${UPDATER}.d/restart-sooner.conf`),
      "[Service]\nRestartSec=2\n",
    );
    await installDaemonUnit(machine);
    await master.report("of the app 1.0.0", (r) => r.to?.version === "1.0.0");
    assert.equal(await running(), "9.0.0");
  });

  after(async () => {
    await host?.destroy();
  });

  test("a new updater release: exit 99, systemd starts it through the launcher, it commits and reports", async () => {
    await publishUpdater(v1Pack, V1);
    await machine.run(["systemctl", "restart", UPDATER]);
    const report = await master.report(
      "of the updater 9.0.1",
      (r) => r.component === "updater" && r.to?.version === V1.version,
      180_000,
    );
    assert.equal(report.status, "updated", JSON.stringify(report));
    assert.equal(await running(), V1.version);
    const unit = await machine.until("the new daemon, active", async () => {
      const fields = await machine.show(UPDATER, ["ActiveState", "NRestarts"]);
      return fields.ActiveState === "active" ? fields : null;
    });
    assert.ok(Number(unit.NRestarts) >= 1, `NRestarts=${unit.NRestarts}: restarted after exit 99`);
    assert.match(await machine.journal(UPDATER), /status=99/);
    await machine.until("the trial's end", async () =>
      machine.exec(["test", "-e", "/opt/decnet-updater/trial"]).then((result) => result.code !== 0),
    );
    // the new daemon under the same sandbox still does its job: a reload is taken
    await machine.run(["systemctl", "reload", UPDATER]);
    await machine.until("the reload's log line", async () =>
      (await machine.journal(UPDATER)).includes("Configuration reloaded."),
    );
  });

  test("a release that dies at start: 3 starts, the launcher puts the previous one back, which reports", async () => {
    await publishUpdater(await brokenPack(), BROKEN);
    await machine.run(["systemctl", "restart", UPDATER]);
    const report = await master.report(
      "of the updater 9.0.2",
      (r) => r.component === "updater" && r.to?.version === BROKEN.version,
      240_000,
    );
    assert.equal(report.status, "rolled_back", JSON.stringify(report));
    assert.match(
      report.error ?? "",
      /^updater 9\.0\.2 made 3 starts without committing; the launcher put 9\.0\.1 back$/,
    );
    assert.equal(await running(), V1.version);
    const journal = await machine.journal(UPDATER);
    assert.match(journal, /decnet-updater 9\.0\.2: broken at start/);
    assert.match(journal, /back to the previous release/);
    assert.equal((await machine.show(UPDATER, ["ActiveState"])).ActiveState, "active");
  });
});
