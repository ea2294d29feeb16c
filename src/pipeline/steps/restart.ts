/**
 * Restarting the agent after its code changed.
 *
 * systemd mode: `systemctl restart` for each of restart.units in order (the
 * first must succeed), then the optional units best-effort. Restarting
 * through systemctl keeps the unit's capabilities and cgroup; the agent's
 * MainPID goes into agent.pid for operators. Each restart follows a
 * `systemctl reset-failed`: a release whose agent crash-looped into the
 * unit's start limit leaves it refusing starts, the rollback's included.
 *
 * process mode (hosts without systemd): SIGTERM the pid in agent.pid, SIGKILL
 * after restart.stop_grace_s, then start restart.command detached in its own
 * session, cwd install_dir, output appended to agent.spawn.log.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, readlink, realpath } from "node:fs/promises";
import { UpdaterError } from "../../errors.js";
import { writeFileAtomic } from "../../fs/atomic.js";
import type { InstallPaths } from "../../layout/paths.js";
import type { Logger } from "../../log.js";
import { type Systemctl, unitState } from "../../process/systemctl.js";

export type RestartMode = "systemd" | "process";

export interface RestartInput {
  mode: RestartMode;
  paths: InstallPaths;
  units: readonly string[];
  optionalUnits: readonly string[];
  /** process mode: the expanded restart.command. */
  command: readonly string[];
  stopGraceMs: number;
  systemctl: Systemctl | null;
  sleep: (ms: number) => Promise<void>;
  monotonicMs: () => number;
  log: Logger;
}

export async function restartAgent(input: RestartInput): Promise<void> {
  if (input.mode === "systemd") await restartUnits(input);
  else {
    await stopAgent(input);
    await startAgent(input);
  }
}

async function restartUnits(input: RestartInput): Promise<void> {
  const systemctl = input.systemctl;
  if (!systemctl)
    throw new UpdaterError("E_RESTART", "restart.mode is systemd but systemctl is not on PATH");
  for (const [index, unit] of input.units.entries()) {
    const result = await restartUnit(systemctl, unit);
    if (!result.ok && index === 0) {
      throw new UpdaterError(
        "E_RESTART",
        `systemctl restart ${unit} failed, the unit is ${await unitState(systemctl, unit)}: ${result.stderr.split("\n")[0] || "no output"}`,
      );
    }
    if (!result.ok) input.log.warn({ step: "restart", unit }, `systemctl restart ${unit} failed.`);
  }
  for (const unit of input.optionalUnits) {
    const result = await restartUnit(systemctl, unit);
    if (!result.ok)
      input.log.info({ step: "restart", unit }, `Optional unit ${unit} did not restart.`);
  }
  const first = input.units[0];
  if (first) {
    const pid = await systemctl.run(["show", "-p", "MainPID", "--value", first]);
    if (pid.ok && /^[1-9]\d*$/.test(pid.stdout))
      await writeFileAtomic(input.paths.agentPid, `${pid.stdout}\n`);
  }
}

/** reset-failed (its answer does not matter: a unit that is not failed, or not loaded, refuses it), then restart. */
async function restartUnit(systemctl: Systemctl, unit: string): ReturnType<Systemctl["run"]> {
  await systemctl.run(["reset-failed", unit]);
  return systemctl.run(["restart", unit]);
}

/** Stops the agent of `install_dir`. Idempotent: no pid file or a dead pid is success. */
export async function stopAgent(
  input: Pick<RestartInput, "paths" | "stopGraceMs" | "sleep" | "monotonicMs" | "log">,
): Promise<void> {
  const pid = await readPid(input.paths.agentPid);
  if (pid === null || !(await isOurAgent(pid, input.paths.root))) return;
  signal(pid, "SIGTERM");
  const started = input.monotonicMs();
  const deadline = started + input.stopGraceMs;
  while (input.monotonicMs() < deadline) {
    if (!(await isAlive(pid))) {
      const ms = Math.round(input.monotonicMs() - started);
      input.log.info({ step: "restart", pid, ms }, "Stopped the agent.");
      return;
    }
    // short polls: the agent is unavailable from here until the new one answers
    await input.sleep(10);
  }
  input.log.warn({ step: "restart", pid }, "The agent did not stop in time; sending SIGKILL.");
  signal(pid, "SIGKILL");
  for (let i = 0; i < 100 && (await isAlive(pid)); i++) await input.sleep(20);
}

async function startAgent(input: RestartInput): Promise<void> {
  const [file, ...args] = input.command as [string, ...string[]];
  const log = openSync(input.paths.spawnLog, "a", 0o640);
  try {
    const child = spawn(file, args, {
      cwd: input.paths.root,
      detached: true, // own session: the agent outlives the updater and its signals
      stdio: ["ignore", log, log],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("spawn", () => resolve(child.pid as number));
      child.once("error", (error) =>
        reject(
          new UpdaterError(
            "E_RESTART",
            `cannot start ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
          ),
        ),
      );
    });
    child.unref();
    await writeFileAtomic(input.paths.agentPid, `${pid}\n`);
    input.log.info({ step: "restart", pid }, "Started the agent.");
  } finally {
    closeSync(log);
  }
}

export async function readPid(path: string): Promise<number | null> {
  const text = await readFile(path, "utf8").catch(() => "");
  return /^\s*[1-9]\d*\s*$/.test(text) ? Number(text) : null;
}

/**
 * A pid file can outlive its process and the pid be reused. We only signal a
 * process that runs from install_dir (we start the agent there) or whose
 * command line names an agent, like the Python original's /proc scan did.
 */
async function isOurAgent(pid: number, installDir: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
  const root = await realpath(installDir).catch(() => installDir);
  if (cwd === root) return true;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.split("\0").includes("agent");
}

/** Alive and not a zombie (an exited child not yet reaped counts as gone). */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return false;
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
