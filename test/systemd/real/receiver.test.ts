/**
 * decnet-updater-receiver.service under a real systemd 252 (issue 18): the
 * shipped unit, the README's user and key permissions, a master checkout
 * built at /opt/decnet-updater-master. It runs as its own user, stores
 * reports durably (a SIGKILL and the restart that follows lose nothing it
 * acknowledged), stops cleanly on `systemctl stop`, and scores 2.0 or
 * better in `systemd-analyze security`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO } from "../../helpers/cli.js";
import { makePki, type Pki } from "../../helpers/pki.js";
import { curlOnSocket, postReport } from "../../helpers/receiver.js";
import { freePort } from "../../helpers/release.js";
import { hostReport } from "../../helpers/reports.js";
import { Machine, SYSTEMD_SKIP } from "../../helpers/systemd/machine.js";

const UNIT = "decnet-updater-receiver.service";
const MASTER = "/opt/decnet-updater-master";

describe("decnet-updater-receiver.service under a real systemd", { skip: SYSTEMD_SKIP }, () => {
  let machine: Machine;
  let root: string;
  let pki: Pki;
  let port: number;
  let client: ReturnType<Pki["issue"]>;
  const url = () => `https://127.0.0.1:${port}`;
  const post = (body: string) => postReport(url(), body, { client, ca: pki.ca });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "du-receiver-systemd-"));
    pki = makePki(root);
    client = pki.issue("worker-s", { clientAuth: true });
    port = await freePort();
    machine = await Machine.create();
    await machine.boot();
    // the master's checkout, built: dist/ compiled into the machine, node_modules the repo's
    // own through a bind mount (the receiver's user needs no way through the folders above it)
    await machine.run(["mkdir", "-p", `${MASTER}/node_modules`]);
    execFileSync(join(REPO, "node_modules/.bin/tsc"), [
      "-p",
      join(REPO, "tsconfig.build.json"),
      "--outDir",
      machine.path(`${MASTER}/dist`),
      "--sourceMap",
      "false",
    ]);
    await copyFile(join(REPO, "package.json"), machine.path(`${MASTER}/package.json`));
    await machine.run(["chmod", "-R", "a+rX", MASTER]);
    await machine.run(["mount", "--bind", join(REPO, "node_modules"), `${MASTER}/node_modules`]);
    // the README's steps: the user, the keys readable by its group, the config, the unit
    await machine.run([
      "useradd",
      "--system",
      "--home-dir",
      "/var/lib/decnet-updater-receiver",
      "--shell",
      "/usr/sbin/nologin",
      "decnet-receiver",
    ]);
    await machine.run(["mkdir", "-p", "/etc/decnet/receiver"]);
    for (const [from, to] of [
      [pki.ca, "fleet-ca.crt"],
      [pki.server.cert, "receiver.crt"],
      [pki.server.key, "receiver.key"],
    ] as const)
      await copyFile(from, machine.path(`/etc/decnet/receiver/${to}`));
    await machine.sh(
      "chgrp decnet-receiver /etc/decnet/receiver/*.key && chmod 0640 /etc/decnet/receiver/*.key",
    );
    await writeFile(
      machine.path("/etc/decnet/receiver.toml"),
      [
        `listen = "127.0.0.1:${port}"`,
        "[tls]",
        'cert = "/etc/decnet/receiver/receiver.crt"',
        'key = "/etc/decnet/receiver/receiver.key"',
        'client_ca = "/etc/decnet/receiver/fleet-ca.crt"',
        "",
      ].join("\n"),
    );
    await machine.run(["cp", join(REPO, "systemd", UNIT), "/etc/systemd/system/"]);
    await machine.run(["systemctl", "daemon-reload"]);
  });
  after(async () => {
    await machine?.destroy();
    await rm(root, { recursive: true, force: true });
  });

  const listening = () =>
    machine.until("the receiver to answer", async () => {
      const answer = await post("{}").catch(() => null);
      return answer?.status === 400 ? answer : null;
    });

  test("enable --now: it runs as its own user and stores a report in its state dir", async () => {
    await machine.run(["systemctl", "enable", "--now", UNIT]);
    await listening();
    const report = JSON.stringify(hostReport({ host_id: "worker-s" }));
    assert.equal((await post(report)).status, 201);
    const { MainPID } = await machine.show(UNIT, ["MainPID"]);
    const user = (await machine.run(["ps", "-o", "user=", "-p", MainPID as string])).trim();
    assert.equal(user, "decnet-receiver");
    const file = (
      await machine.run(["stat", "-c", "%U %a", "/var/lib/decnet-updater-receiver/reports.sqlite"])
    ).trim();
    assert.equal(file, "decnet-receiver 600");
    const fleet = JSON.parse(
      await machine.run([
        "node",
        `${MASTER}/dist/src/cli/main.js`,
        "fleet",
        "--json",
        "--config",
        "/etc/decnet/receiver.toml",
      ]),
    );
    assert.equal(fleet.hosts, 1);
  });

  test("SIGKILL: systemd restarts it and the acknowledged report is there (409 on a re-send)", async () => {
    const report = JSON.stringify(hostReport({ host_id: "worker-s" }));
    assert.equal((await post(report)).status, 201);
    await machine.run(["systemctl", "kill", "--signal=SIGKILL", UNIT]);
    await machine.until("a restart", async () => {
      const { NRestarts, ActiveState } = await machine.show(UNIT, ["NRestarts", "ActiveState"]);
      return NRestarts === "1" && ActiveState === "active";
    });
    await listening();
    const again = await post(report);
    assert.equal(again.status, 409, again.text);
  });

  test("systemctl stop: a clean exit", async () => {
    await machine.run(["systemctl", "stop", UNIT]);
    const { Result, ExecMainStatus } = await machine.show(UNIT, ["Result", "ExecMainStatus"]);
    assert.deepEqual({ Result, ExecMainStatus }, { Result: "success", ExecMainStatus: "0" });
    assert.match(await machine.journal("decnet-updater-receiver"), /Stopping on SIGTERM/);
  });

  test("behind nginx: decnet-updater-receiver.socket, which only nginx's group can open", async () => {
    await writeFile(
      machine.path("/etc/decnet/receiver.toml"),
      'listen = "unix:/run/decnet-updater-receiver/receiver.sock"\n',
    );
    await machine.run([
      "cp",
      join(REPO, "systemd", "decnet-updater-receiver.socket"),
      "/etc/systemd/system/",
    ]);
    await machine.run(["systemctl", "daemon-reload"]);
    await machine.run(["systemctl", "enable", "--now", "decnet-updater-receiver.socket"]);
    await machine.run(["systemctl", "start", UNIT]);
    const socket = "/run/decnet-updater-receiver/receiver.sock";
    assert.equal(
      (await machine.run(["stat", "-c", "%U %G %a", socket])).trim(),
      "root www-data 660",
    );
    const curl = (who: string[], report: string) =>
      machine.exec([...who, ...curlOnSocket(socket, "worker-s", report)]);
    const asNginx = await machine.until("the receiver on its socket", async () => {
      const run = await curl(
        ["setpriv", "--reuid=www-data", "--regid=www-data", "--init-groups"],
        JSON.stringify(hostReport({ host_id: "worker-s" })),
      );
      return run.code === 0 && run.stdout.startsWith("stored ") ? run : null;
    });
    assert.match(asNginx.stdout, /^stored [0-9a-f-]{36}\n$/);
    // any other local user: refused by the socket's mode, and the receiver listens on no port
    const other = await curl(
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
      JSON.stringify(hostReport({ host_id: "worker-s" })),
    );
    assert.equal(other.code, 7, other.stdout + other.stderr);
    const { MainPID } = await machine.show(UNIT, ["MainPID"]);
    const tcp = await machine.run(["sh", "-c", `ss -Htlnp | grep "pid=${MainPID}," || true`]);
    // the fleet's side is the socket; the only port is the operator's views, on loopback
    assert.deepEqual(
      tcp
        .trim()
        .split("\n")
        .map((line) => line.split(/\s+/)[3]),
      ["127.0.0.1:9309"],
    );
    await machine.run(["systemctl", "stop", UNIT, "decnet-updater-receiver.socket"]);
  });

  test("systemd-analyze security: 2.0 or better", async () => {
    const out = (await machine.exec(["systemd-analyze", "security", "--no-pager", UNIT])).stdout;
    const score = Number(out.match(/Overall exposure level for \S+: ([\d.]+)/)?.[1]);
    assert.ok(score <= 2.0, `${UNIT}: ${score}\n${out}`);
  });
});
