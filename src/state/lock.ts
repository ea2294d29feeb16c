/**
 * One agent at a time per state_dir: `state_dir/lock` holds the holder's pid.
 *
 * Created with link(2) from a temp file, which fails if the lock exists, so
 * two starters cannot both win. A lock whose pid is dead (a crash, a
 * SIGKILL) is taken over: it is removed only if it still names that dead pid.
 * Node has no flock(2); this is the portable form of the same contract.
 */
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UpdaterError } from "../errors.js";

export interface Lock {
  path: string;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function holder(path: string): Promise<number | null> {
  const text = await readFile(path, "utf8").catch(() => "");
  return /^\d+\s*$/.test(text) ? Number(text) : null;
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
  const temp = join(stateDir, `.${name}.${pid}.tmp`);
  await writeFile(temp, `${pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(temp, path);
        return { path, release: async () => releaseIfOurs(path, pid) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const other = await holder(path);
      if (other !== null && other !== pid && alive(other)) {
        throw new UpdaterError("E_LOCKED", `another decnet-updater holds ${path} (pid ${other})`);
      }
      // Dead holder, or an unreadable lock left by a crash mid-write: take it over.
      if ((await holder(path)) === other) await rm(path, { force: true });
    }
    throw new UpdaterError("E_LOCKED", `could not take ${path}: it keeps changing hands`);
  } finally {
    await rm(temp, { force: true });
  }
}

/** The pid holding lock `name` in `stateDir`, or null when it is free or its holder is dead. */
export async function liveHolder(stateDir: string, name = "lock"): Promise<number | null> {
  const pid = await holder(join(stateDir, name));
  return pid !== null && alive(pid) ? pid : null;
}

async function releaseIfOurs(path: string, pid: number): Promise<void> {
  if ((await holder(path)) === pid) await rm(path, { force: true });
}
