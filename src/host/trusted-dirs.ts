/**
 * Before it does anything, the agent checks the directories it writes as
 * root (SPEC section 14, §2; fs/trust.ts): install_dir, state_dir and
 * units.dir, and the updater's own install dir when self-update is on, with
 * the folders it keeps inside them. Every command that changes or decides
 * something runs it first: update (so every daemon cycle), check, plan,
 * rollback, clear, run.
 */
import type { Config } from "../config/types.js";
import { checkTrustedTree } from "../fs/trust.js";
import { acquireLock, type Lock } from "../state/lock.js";

/** The folders the agent makes inside install_dir (a slot layout) and walks through. */
const SLOT_FOLDERS = [
  "releases",
  "releases/active",
  "releases/prev",
  "releases/older",
  "releases/failed",
  "venvs",
];
const STATE_FOLDERS = ["outbox", "downloads", "venv-seed", "self", "self/downloads"];

export async function checkHostDirs(config: Config): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  checkTrustedTree({ key: "install_dir", path: config.install_dir }, SLOT_FOLDERS, uid);
  checkTrustedTree({ key: "state_dir", path: config.state_dir }, STATE_FOLDERS, uid);
  checkTrustedTree({ key: "units.dir", path: config.units.dir }, [], uid);
  if (config.self_update.enabled)
    checkTrustedTree(
      { key: "self_update.install_dir", path: config.self_update.install_dir },
      SLOT_FOLDERS.filter((folder) => folder !== "venvs"),
      uid,
    );
}

/**
 * The cycle lock (or `name`), taken only once the directories are trusted:
 * the lock itself is a file in state_dir. One function, so no command can
 * take the lock without the check.
 */
export async function lockHost(config: Config, name = "lock"): Promise<Lock> {
  await checkHostDirs(config);
  return acquireLock(config.state_dir, process.pid, name);
}
