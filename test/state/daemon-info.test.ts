/**
 * `daemon.json` is believed only while `daemon.lock` names the same live pid:
 * a daemon killed with SIGKILL must not leave `status` announcing checks.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type DaemonInfo, readDaemonInfo, writeDaemonInfo } from "../../src/state/daemon-info.js";
import { acquireLock } from "../../src/state/lock.js";

const BOOT = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "du-daemon-info-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function info(pid: number): DaemonInfo {
  return {
    pid,
    started_at: "2026-11-26T10:00:00.000Z",
    cron: "*/15 * * * *",
    timezone: "UTC",
    splay_s: 900,
    phase_s: 612.345,
    next_check: "2026-11-26T10:15:00.000Z",
  };
}

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

test("believed when daemon.lock names the same live pid", async () => {
  // as a running daemon holds it: pid, start time, boot id
  await (await acquireLock(dir, process.pid, "daemon.lock")).path;
  await writeDaemonInfo(dir, info(process.pid));
  assert.deepEqual(await readDaemonInfo(dir), info(process.pid));
});

test("ignored when the daemon that wrote it is dead (SIGKILL leaves both files)", async () => {
  const pid = deadPid();
  // as the daemon wrote it (pid, start time, boot id); an old-format line would be judged by cmdline
  await writeFile(join(dir, "daemon.lock"), `${pid} 12345 ${BOOT}\n`);
  await writeDaemonInfo(dir, info(pid));
  assert.equal(await readDaemonInfo(dir), null);
});

test("ignored when it names another pid than the lock's holder", async () => {
  await rm(join(dir, "daemon.lock"), { force: true });
  await acquireLock(dir, process.pid, "daemon.lock");
  // the holder is live and believed: only the other pid makes the file ignored
  await writeDaemonInfo(dir, info(process.pid));
  assert.deepEqual(await readDaemonInfo(dir), info(process.pid));
  await writeDaemonInfo(dir, info(process.pid + 1_000_000));
  assert.equal(await readDaemonInfo(dir), null);
});

test("ignored when unreadable or with no lock at all", async () => {
  await rm(join(dir, "daemon.lock"), { force: true });
  await acquireLock(dir, process.pid, "daemon.lock");
  await writeFile(join(dir, "daemon.json"), "{not json");
  assert.equal(await readDaemonInfo(dir), null);
  await rm(join(dir, "daemon.lock"));
  await writeDaemonInfo(dir, info(process.pid));
  assert.equal(await readDaemonInfo(dir), null);
});
