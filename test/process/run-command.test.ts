/**
 * runCommand ends the whole command on a timeout or a stop: pip, a venv's
 * ensurepip or an `sh -c` wrapper start children that hold stderr open, and
 * the install step waited for them (a `systemctl stop` sat through a
 * wrapper's `sleep 60`, issue 17).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runCommand } from "../../src/process/run-command.js";

/** Whether a process whose command line is exactly `argv` runs (pgrep -f -x), polled up to 2 s for it to go. */
async function running(commandLine: string): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    try {
      execFileSync("pgrep", ["-f", "-x", commandLine]);
    } catch (error) {
      // pgrep exits 1 when nothing matches; anything else (no pgrep at all) must fail the test
      if ((error as { status?: number }).status === 1) return false;
      throw error;
    }
    await sleep(100);
  }
  return true;
}

// A grandchild that keeps the command's stderr: `&&` makes sh fork sleep instead of exec'ing it.
const WRAPPED = (seconds: string) => ["sh", "-c", `sleep ${seconds} && exit 0`];

test("a timeout ends the command's children too, at once", async () => {
  const outcome = await runCommand(WRAPPED("41.5"), { cwd: "/", timeoutMs: 300 });
  assert.equal(outcome.timedOut, true);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.signal, "SIGTERM");
  assert.ok(outcome.ms < 4000, `took ${outcome.ms} ms`);
  assert.equal(await running("sleep 41.5"), false, "the wrapper's sleep was left running");
});

test("a stop (the signal aborted) ends the command's children, and says it was a stop", async () => {
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 300);
  const outcome = await runCommand(WRAPPED("42.5"), {
    cwd: "/",
    timeoutMs: 60_000,
    signal: stop.signal,
  });
  assert.deepEqual(
    { canceled: outcome.canceled, timedOut: outcome.timedOut, ok: outcome.ok },
    { canceled: true, timedOut: false, ok: false },
  );
  assert.ok(outcome.ms < 4000, `took ${outcome.ms} ms`);
  assert.equal(await running("sleep 42.5"), false);
});

test("a child that ignores SIGTERM gets SIGKILL 5 s later", async () => {
  const outcome = await runCommand(["sh", "-c", "trap '' TERM; sleep 43.5 && exit 0"], {
    cwd: "/",
    timeoutMs: 300,
  });
  assert.equal(outcome.timedOut, true);
  assert.ok(outcome.ms >= 5000 && outcome.ms < 9000, `took ${outcome.ms} ms`);
  assert.equal(await running("sleep 43.5"), false);
});

test("an already-aborted stop never lets the command run to its end", async () => {
  const stop = new AbortController();
  stop.abort();
  const outcome = await runCommand(WRAPPED("44.5"), {
    cwd: "/",
    timeoutMs: 60_000,
    signal: stop.signal,
  });
  assert.equal(outcome.canceled, true);
  assert.ok(outcome.ms < 4000, `took ${outcome.ms} ms`);
});

test("a child that left the group (setsid) and holds stderr does not hold the result", async (t) => {
  t.after(() => {
    try {
      execFileSync("pkill", ["-f", "-x", "sleep 47.5"]);
    } catch {
      // gone
    }
  });
  const outcome = await runCommand(["sh", "-c", "setsid sleep 47.5 & sleep 48.5 && exit 0"], {
    cwd: "/",
    timeoutMs: 300,
  });
  assert.equal(outcome.timedOut, true);
  assert.ok(outcome.ms >= 5000 && outcome.ms < 9000, `took ${outcome.ms} ms`);
});

test("when the updater exits while a command runs, the command's group goes with it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "du-run-command-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const started = join(dir, "started");
  const script = `
    import { existsSync } from "node:fs";
    import { runCommand } from ${JSON.stringify(new URL("../../src/process/run-command.ts", import.meta.url).href)};
    // exit in the middle, as an uncaught error would: once the command is surely running
    const poll = setInterval(() => { if (existsSync(${JSON.stringify(started)})) process.exit(7); }, 20);
    await runCommand(["sh", "-c", "touch ${started} && sleep 49.5 && exit 0"], { cwd: "/", timeoutMs: 60_000 });
    clearInterval(poll);
  `;
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script],
    { encoding: "utf8" },
  );
  assert.equal(result.status, 7, result.stderr);
  assert.ok(existsSync(started), "the command never ran");
  assert.equal(await running("sleep 49.5"), false, "the command outlived the updater");
});
