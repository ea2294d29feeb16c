/**
 * `state_dir/daemon.json`: what a running daemon tells `status` (which runs
 * in another process): its pid, when it started, and when its next check is
 * due: the next cron slot plus this host's fixed phase (phase.ts).
 *
 * The file is advisory. It is believed only while `daemon.lock` names the
 * same live pid, so a daemon killed with SIGKILL leaves a file that `status`
 * ignores instead of a stale "next check" line.
 */
import { readFile, rm } from "node:fs/promises";
import { atLeastZero, checkedObject, nullable, positiveInt, string } from "../config/checks.js";
import { writeFileAtomic } from "../fs/atomic.js";
import { statePaths } from "../layout/paths.js";
import { liveHolder } from "./lock.js";

export interface DaemonInfo {
  pid: number;
  started_at: string;
  cron: string;
  timezone: string;
  splay_s: number;
  /** This host's wait after each cron slot, seconds. */
  phase_s: number;
  /** The next check: the next cron slot plus phase_s (ISO 8601 UTC), or null when the daemon is stopping. */
  next_check: string | null;
}

/** daemon.json's fields and their checks (checks.ts: `status` does not load zod). */
const DAEMON_INFO_FIELDS = {
  pid: positiveInt,
  started_at: string,
  cron: string,
  timezone: string,
  splay_s: atLeastZero,
  phase_s: atLeastZero,
  next_check: nullable(string),
};

export async function writeDaemonInfo(stateDir: string, info: DaemonInfo): Promise<void> {
  await writeFileAtomic(statePaths(stateDir).daemonInfo, `${JSON.stringify(info, null, 2)}\n`);
}

export async function removeDaemonInfo(stateDir: string): Promise<void> {
  await rm(statePaths(stateDir).daemonInfo, { force: true });
}

/** The running daemon's info, or null when no daemon holds the lock. */
export async function readDaemonInfo(stateDir: string): Promise<DaemonInfo | null> {
  const paths = statePaths(stateDir);
  const pid = await liveHolder(stateDir, "daemon.lock");
  if (pid === null) return null;
  const text = await readFile(paths.daemonInfo, "utf8").catch(() => null);
  if (text === null) return null;
  let parsed: DaemonInfo | null;
  try {
    parsed = checkedObject<DaemonInfo>(JSON.parse(text), DAEMON_INFO_FIELDS);
  } catch {
    return null; // half-written by hand or by a crash before rename: not worth an error in `status`
  }
  return parsed !== null && parsed.pid === pid ? parsed : null;
}
