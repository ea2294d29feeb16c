/**
 * One agent at a time per state_dir: `state_dir/lock` names its holder.
 *
 * Created with link(2) from a temp file, which fails if the lock exists, so
 * two starters cannot both win. The temp file has a random name and is
 * created O_EXCL|O_NOFOLLOW (fs/exclusive.ts): a predictable name would let a
 * local user point it at a file of root's and have the pid written into it.
 *
 * The lock holds "<pid> <start time> <boot id>": the holder's start time
 * (field 22 of /proc/<pid>/stat, in clock ticks since boot) and the kernel's
 * boot id. A lock is taken over when its holder is gone: the pid is dead, or
 * it now belongs to another process (another start time), or the host
 * rebooted since (another boot id). A bare pid alone would keep a stale lock
 * forever once the pid is reused, and the host would stop updating with exit
 * 75 and no alert. Takeovers go one at a time (takeOver). Locks written by older updaters (a pid only) count as held
 * while that pid runs a decnet-updater. Node has no flock(2); this is the
 * portable form of the same contract.
 */
import { readFileSync } from "node:fs";
import { link, lstat, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UpdaterError } from "../errors.js";
import { createExclusive, tempNameBeside } from "../fs/exclusive.js";

export interface Lock {
  path: string;
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  /** Absent in a lock written by an older updater. */
  start?: string;
  boot?: string;
}

/** The kernel's id of this boot, or null off Linux. */
function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat (the comm field may hold spaces and parentheses), or null. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the process that wrote `holder` still runs (and is the same process). */
function holds(holder: Holder): boolean {
  if (!alive(holder.pid)) return false;
  const boot = bootId();
  if (holder.boot !== undefined && boot !== null && holder.boot !== boot) return false;
  if (holder.start !== undefined) {
    const start = processStartTime(holder.pid);
    return start === null || start === holder.start;
  }
  // An older updater's lock: only a decnet-updater process can be its holder.
  try {
    const cmdline = readFileSync(`/proc/${holder.pid}/cmdline`, "utf8");
    return /decnet-updater|\/cli\/main\.js/.test(cmdline);
  } catch {
    return true; // no /proc: trust the pid
  }
}

/** The lock file's text, or null when there is none. */
async function readLockText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return ""; // unreadable: no holder can be named
  }
}

function parseHolder(text: string): Holder | null {
  const match = /^(\d+)(?: (\d+) ([0-9a-f-]+))?\s*$/.exec(text);
  if (!match) return null;
  return {
    pid: Number(match[1]),
    ...(match[2] !== undefined ? { start: match[2], boot: match[3] } : {}),
  };
}

async function readHolder(path: string): Promise<Holder | null> {
  return parseHolder((await readLockText(path)) ?? "");
}

function describeHolder(pid: number): string {
  const start = processStartTime(pid);
  return start === null ? `${pid}\n` : `${pid} ${start} ${bootId() ?? "-"}\n`;
}

/**
 * `name` "lock" guards one cycle (update, rollback, check, clear); the daemon
 * also holds "daemon.lock" for its whole life so a second `run` is refused
 * while operators can still run a one-off command between its cycles.
 */
export async function acquireLock(
  stateDir: string,
  pid = process.pid,
  name = "lock",
): Promise<Lock> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, name);
  const temp = tempNameBeside(path);
  const handle = await createExclusive(temp, 0o600);
  try {
    await handle.writeFile(describeHolder(pid));
  } finally {
    await handle.close();
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(temp, path);
        return { path, release: async () => releaseIfOurs(path, pid) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const text = await readLockText(path);
      if (text === null) continue; // released meanwhile: link again
      const other = parseHolder(text);
      if (other !== null && other.pid !== pid && holds(other)) {
        // Under the units' ProtectProc=invisible, /proc hides processes with more privileges
        // than the sandbox's (an operator's shell, another root daemon): such a holder is taken
        // to be alive, the safe side, and the line says how to tell.
        const hidden = other.start !== undefined && processStartTime(other.pid) === null;
        throw new UpdaterError(
          "E_LOCKED",
          `another decnet-updater holds ${path} (pid ${other.pid})${hidden ? `; that pid's /proc entry is hidden from this process, so it is taken to be the holder: if no decnet-updater runs as pid ${other.pid}, remove ${path}` : ""}`,
        );
      }
      // A holder that is gone, or an unreadable lock left by a crash mid-write: take it over.
      if (!(await takeOver(path, text, pid))) await sleep(5 * (attempt + 1));
    }
    throw new UpdaterError("E_LOCKED", `could not take ${path}: it keeps changing hands`);
  } finally {
    await rm(temp, { force: true });
  }
}

/** A takeover guard older than this was left by a crash (a takeover takes milliseconds). */
const GUARD_STALE_MS = 10_000;

/**
 * Removes the stale lock `seen`, and only it. Several starters may find the
 * same stale lock; if each read it and then removed what was there, a slower
 * one would delete the lock a faster one had just made. So takeovers go one
 * at a time, through a guard (`lock.takeover`, made with link(2) like the
 * lock itself), and the guard's holder reads the lock again before it
 * removes it, only if it still reads what the caller saw (`seen`, its text).
 * Returns false when another starter holds the guard.
 */
async function takeOver(path: string, seen: string, pid: number): Promise<boolean> {
  const guard = `${path}.takeover`;
  const mine = tempNameBeside(guard);
  const handle = await createExclusive(mine, 0o600);
  try {
    await handle.writeFile(`${pid}\n`);
  } finally {
    await handle.close();
  }
  try {
    try {
      await link(mine, guard);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const left = await lstat(guard).catch(() => null);
      if (left && Date.now() - left.mtimeMs > GUARD_STALE_MS) await rm(guard, { force: true });
      return false;
    }
    try {
      // Only guard holders remove a lock, and a lock is only made where none is: read, then remove, is safe here.
      if ((await readLockText(path)) === seen) await rm(path, { force: true });
    } finally {
      await rm(guard, { force: true });
    }
    return true;
  } finally {
    await rm(mine, { force: true });
  }
}

/** The pid holding lock `name` in `stateDir`, or null when it is free or its holder is gone. */
export async function liveHolder(stateDir: string, name = "lock"): Promise<number | null> {
  const holder = await readHolder(join(stateDir, name));
  return holder !== null && holds(holder) ? holder.pid : null;
}

async function releaseIfOurs(path: string, pid: number): Promise<void> {
  if ((await readHolder(path))?.pid === pid) await rm(path, { force: true });
}
