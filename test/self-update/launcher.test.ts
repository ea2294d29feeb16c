/**
 * launcher/decnet-updater-launch, the stable ExecStart outside the slots:
 * it counts the starts of a release on trial and, after 3 without a commit,
 * puts the previous release back. Real sh, real renames, fake programs in
 * the slots (a script that prints its version).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";

const LAUNCHER = resolve(import.meta.dirname, "../../launcher/decnet-updater-launch");
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-launcher-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** An updater install dir: releases/active runs `active`, releases/prev runs `prev`. */
async function installDir(name: string, active: string, prev: string | null): Promise<string> {
  const dir = join(root, name);
  for (const [slot, version] of [
    ["active", active],
    ["prev", prev],
  ] as const) {
    if (version === null) continue;
    const bin = join(dir, "releases", slot, "dist/src/cli");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "main.js"), `#!/bin/sh\necho "${version} $*"\n`);
    await chmod(join(bin, "main.js"), 0o755);
  }
  await symlink("releases/active", join(dir, "current"));
  return dir;
}

function launch(dir: string, ...args: string[]) {
  const result = spawnSync("sh", [LAUNCHER, ...args], {
    env: { PATH: process.env.PATH, DECNET_UPDATER_INSTALL_DIR: dir },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

const read = (path: string) => readFile(path, "utf8").catch(() => null);

test("without a trial it runs the active release with the arguments given", async () => {
  const dir = await installDir("steady", "2.0.0", "1.0.0");
  assert.deepEqual(launch(dir, "run", "--config", "/etc/x.toml"), {
    code: 0,
    stdout: "2.0.0 run --config /etc/x.toml",
    stderr: "",
  });
  assert.equal(await read(join(dir, "trial")), null);
});

test("a release on trial is counted at each start, and a commit (the file removed) ends the trial", async () => {
  const dir = await installDir("commits", "2.0.0", "1.0.0");
  await writeFile(join(dir, "trial"), "0\n");
  assert.equal(launch(dir, "run").stdout, "2.0.0 run");
  assert.equal(await read(join(dir, "trial")), "1\n");
  assert.equal(launch(dir, "run").stdout, "2.0.0 run");
  assert.equal(await read(join(dir, "trial")), "2\n");
  await rm(join(dir, "trial")); // what the new release does once it has verified a manifest
  for (let i = 0; i < 5; i++) assert.equal(launch(dir, "run").stdout, "2.0.0 run");
  assert.deepEqual((await readdir(join(dir, "releases"))).sort(), ["active", "prev"]);
});

test("after 3 starts without a commit the previous release comes back and the failure is left to report", async () => {
  const dir = await installDir("fails", "3.0.0", "2.0.0");
  await writeFile(join(dir, "trial"), "0\n");
  for (let start = 1; start <= 3; start++) {
    assert.equal(launch(dir, "run").stdout, "3.0.0 run");
    assert.equal(await read(join(dir, "trial")), `${start}\n`);
  }
  const fourth = launch(dir, "run");
  assert.equal(fourth.stdout, "2.0.0 run");
  assert.match(fourth.stderr, /made 3 starts without committing; back to the previous release$/);
  assert.equal(await read(join(dir, "trial")), null);
  const names = (await readdir(join(dir, "releases"))).sort();
  assert.equal(names.length, 2);
  assert.equal(names[0], "active");
  assert.match(names[1] as string, /^failed\.\d+$/);
  const marker = JSON.parse((await read(join(dir, "trial-failed.json"))) as string);
  assert.equal(marker.failed_slot, join(dir, "releases", names[1] as string));
  assert.equal(marker.starts, 3);
  // the failed release is kept for a look, and what runs from now on is the previous one
  assert.equal(launch(dir, "status").stdout, "2.0.0 status");
});

test("a flip back cut short between its renames is finished at the next start", async () => {
  const dir = await installDir("torn", "3.0.0", "2.0.0");
  await rm(join(dir, "releases/active"), { recursive: true });
  assert.equal(launch(dir, "run").stdout, "2.0.0 run");
  assert.deepEqual(await readdir(join(dir, "releases")), ["active"]);
});

test("a garbled trial count counts as 0, never as a reason to flip", async () => {
  const dir = await installDir("garbled", "3.0.0", "2.0.0");
  await writeFile(join(dir, "trial"), "lots\n");
  assert.equal(launch(dir, "run").stdout, "3.0.0 run");
  assert.equal(await read(join(dir, "trial")), "1\n");
});

test("only run and update count a start; status and --version leave the trial alone", async () => {
  const dir = await installDir("commands", "2.0.0", "1.0.0");
  await writeFile(join(dir, "trial"), "0\n");
  for (const args of [["status"], ["--version"], ["check"], []])
    assert.equal(launch(dir, ...args).code, 0);
  assert.equal(await read(join(dir, "trial")), "0\n");
  launch(dir, "update");
  assert.equal(await read(join(dir, "trial")), "1\n");
});

test("the program learns the launcher's own path and install dir (self-update needs both)", async () => {
  const dir = await installDir("env", "2.0.0", null);
  const main = join(dir, "releases/active/dist/src/cli/main.js");
  await writeFile(main, '#!/bin/sh\necho "$DECNET_UPDATER_LAUNCHER|$DECNET_UPDATER_INSTALL_DIR"\n');
  assert.equal(launch(dir, "status").stdout, `${LAUNCHER}|${dir}`);
});

test("under a Type=notify unit it says READY=1 for a `run` of a release that cannot say it itself", async () => {
  const dir = await installDir("notify", "0.1.0", null);
  // systemd-notify talks to PID 1: a stand-in on PATH records what it was asked
  const bin = join(root, "notify-bin");
  await mkdir(bin, { recursive: true });
  const log = join(root, "notify.log");
  await writeFile(join(bin, "systemd-notify"), `#!/bin/sh\necho "$* $NOTIFY_SOCKET" >> ${log}\n`);
  await chmod(join(bin, "systemd-notify"), 0o755);
  const run = (args: string[], notifySocket: string | null = "/run/systemd/notify") =>
    spawnSync("sh", [LAUNCHER, ...args], {
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        DECNET_UPDATER_INSTALL_DIR: dir,
        ...(notifySocket ? { NOTIFY_SOCKET: notifySocket } : {}),
      },
      encoding: "utf8",
    });
  assert.equal(run(["run"]).stdout.trim(), "0.1.0 run");
  assert.equal(await read(log), "--ready /run/systemd/notify\n");
  // `update` (the oneshot) is not Type=notify
  run(["update"]);
  assert.equal(await read(log), "--ready /run/systemd/notify\n");
  // a release that says it itself (it has sd-notify.js) is left to do so, once its handlers are in place
  await mkdir(join(dir, "releases/active/dist/src/process"), { recursive: true });
  await writeFile(join(dir, "releases/active/dist/src/process/sd-notify.js"), "");
  assert.equal(run(["run"]).stdout.trim(), "0.1.0 run");
  assert.equal(await read(log), "--ready /run/systemd/notify\n");
  // and off systemd (no NOTIFY_SOCKET) nothing is said, the stand-in on PATH all the same
  await rm(join(dir, "releases/active/dist/src/process/sd-notify.js"));
  assert.equal(run(["run"], null).stdout.trim(), "0.1.0 run");
  assert.equal(await read(log), "--ready /run/systemd/notify\n");
});
