import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { acquireLock, processStartTime } from "../../src/state/lock.js";
import { runCli } from "../helpers/cli.js";
import { writeToml } from "../helpers/config.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

const PUB = join(import.meta.dirname, "../fixtures/minisign/trusted.pub");

describe("the single-instance lock", () => {
  test("a second holder is refused with the first one's pid; release frees it", async (t) => {
    const dir = await tempDir(t);
    const first = await acquireLock(dir);
    assert.equal((await readFile(join(dir, "lock"), "utf8")).split(" ")[0], String(process.pid));
    // another live process (our parent) cannot take it
    await assert.rejects(acquireLock(dir, process.ppid), {
      code: "E_LOCKED",
      message: `another decnet-updater holds ${join(dir, "lock")} (pid ${process.pid})`,
    });
    await first.release();
    const second = await acquireLock(dir, process.ppid);
    await second.release();
  });

  test("a lock left by a dead process is taken over", async (t) => {
    const dir = await tempDir(t);
    const child = spawn("true");
    await new Promise((resolve) => child.on("exit", resolve));
    await writeFile(join(dir, "lock"), `${child.pid}\n`);
    const lock = await acquireLock(dir);
    assert.equal((await readFile(join(dir, "lock"), "utf8")).split(" ")[0], String(process.pid));
    await lock.release();
  });

  test("update and rollback exit 75 naming the holder while another instance runs", async (t) => {
    const dir = await tempDir(t);
    const holder = spawn("sleep", ["30"]);
    t.after(() => holder.kill());
    const stateDir = join(dir, "state");
    const config = await writeToml(dir, "updater.toml", {
      install_dir: join(dir, "opt"),
      state_dir: stateDir,
      feed: { url: "http://127.0.0.1:9/", trusted_keys: [PUB] },
    });
    await mkdir(stateDir);
    // A live holder, as a running updater writes it: pid, start time, boot id.
    const boot = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
    await writeFile(
      join(stateDir, "lock"),
      `${holder.pid} ${processStartTime(holder.pid as number)} ${boot}\n`,
    );
    const before = await snapshot(dir);
    for (const command of ["update", "rollback", "check"]) {
      const result = await runCli([command, "--config", config]);
      assert.deepEqual(await snapshot(dir), before, `${command} changed nothing`);
      assert.equal(result.code, 75, `${command}: ${result.stderr}`);
      assert.equal(
        result.stderr,
        `decnet-updater: another decnet-updater holds ${join(stateDir, "lock")} (pid ${holder.pid})\n`,
      );
    }
  });
});
