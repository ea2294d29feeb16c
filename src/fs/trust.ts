/**
 * Whether a path the agent uses as root can be trusted, like sshd's
 * StrictModes. The path is walked one component at a time from "/", each
 * link followed by hand, and:
 * - every folder on the way (and every folder a link leads through) is owned
 *   by root or the running user, not writable by others unless sticky (as
 *   /tmp is: nobody can rename what another user made in it), and not
 *   writable by its group unless that group is root's or it is sticky;
 * - every link on the way is owned by root or the running user;
 * - the path itself: a directory the agent writes must be owned by the
 *   running user, a file it reads (a config file, a key) by root or the
 *   running user; neither writable by group or others.
 * Otherwise someone else could swap the path or what is in it: roll the
 * serial back by editing state.json, drop in a config that runs their
 * command, or plant a link that root then writes through. A path that does
 * not exist yet is judged by the folders above it, where it will be made.
 *
 * Synchronous: it runs once at the start of a command (a few dozen lstat
 * calls), and the config loader that needs it reads its keys synchronously.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { UpdaterError } from "../errors.js";

const OTHER_WRITE = 0o002;
const GROUP_WRITE = 0o020;
const STICKY = 0o1000;
/** Links followed on one path before it counts as a loop (Linux's own limit). */
const MAX_LINKS = 40;

export interface TrustedPath {
  /** What names it, for the message: a config key ("state_dir") or "config". */
  key: string;
  path: string;
  /**
   * "dir": a directory the agent writes (ours); "file" and "folder": a file or
   * a directory it only reads (root's or ours), such as a config and its drop-ins.
   */
  kind: "dir" | "file" | "folder";
}

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function refuse(target: TrustedPath, problem: string): UpdaterError {
  return new UpdaterError(
    "E_UNSAFE_PATH",
    `${target.key} ${target.path}: ${problem}; the agent ${target.kind === "dir" ? "writes there" : "trusts it"} as root, so nobody else may be able to change it`,
  );
}

function lstatOrNull(target: TrustedPath, path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    // EACCES (a folder the running user may not enter) and the like: one line naming the path.
    throw refuse(target, `${path} on its path cannot be checked (${code ?? String(error)})`);
  }
}

/** A folder on the way (not the path itself). */
function checkAncestor(target: TrustedPath, at: string, info: Stats, uid: number): void {
  const mode = `mode ${modeText(info.mode)}, owner uid ${info.uid}`;
  if (info.uid !== 0 && info.uid !== uid)
    throw refuse(
      target,
      `the folder ${at} on its path is owned by uid ${info.uid}, not by root or uid ${uid} (${mode})`,
    );
  const sticky = (info.mode & STICKY) !== 0;
  if (info.mode & OTHER_WRITE && !sticky)
    throw refuse(
      target,
      `the folder ${at} on its path is writable by others and not sticky (${mode})`,
    );
  if (info.mode & GROUP_WRITE && !sticky && info.gid !== 0)
    throw refuse(
      target,
      `the folder ${at} on its path is writable by its group ${info.gid} (${mode})`,
    );
}

/** The path itself. */
function checkFinal(target: TrustedPath, info: Stats, uid: number): void {
  const mode = modeText(info.mode);
  if (target.kind === "dir") {
    if (!info.isDirectory()) throw refuse(target, `not a directory (mode ${mode})`);
    if (info.uid !== uid || info.mode & (GROUP_WRITE | OTHER_WRITE))
      throw refuse(
        target,
        `owned by uid ${info.uid} with mode ${mode}; expected owner uid ${uid} (the running user) and no write access for group or others`,
      );
    return;
  }
  if (target.kind === "file" && !info.isFile())
    throw refuse(target, `not a regular file (mode ${mode})`);
  if (target.kind === "folder" && !info.isDirectory())
    throw refuse(target, `not a directory (mode ${mode})`);
  if ((info.uid !== 0 && info.uid !== uid) || info.mode & (GROUP_WRITE | OTHER_WRITE))
    throw refuse(
      target,
      `owned by uid ${info.uid} with mode ${mode}; expected owner root or uid ${uid} and no write access for group or others`,
    );
}

/** Throws E_UNSAFE_PATH naming the key, the path, the owner and the mode at fault. */
export function checkTrustedPath(target: TrustedPath, uid: number): void {
  const queue = resolve(target.path).split("/").filter(Boolean);
  let at = "/";
  checkAncestor(target, at, lstatSync(at), uid);
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (name === ".") continue;
    if (name === "..") {
      at = resolve(at, "..");
      continue;
    }
    const next = join(at, name);
    const info = lstatOrNull(target, next);
    if (info === null) {
      // Made later, in `at`. Sticky protects only what exists: in a folder others may
      // write, anyone could make the name first, and a mkdir -p would take theirs.
      const where = lstatSync(at);
      if (
        target.kind === "dir" &&
        (where.mode & OTHER_WRITE || (where.mode & GROUP_WRITE && where.gid !== 0))
      )
        throw refuse(
          target,
          `does not exist, and the folder ${at} it would be made in is writable by others (mode ${modeText(where.mode)}, owner uid ${where.uid}): anyone could make it first`,
        );
      return;
    }
    if (info.isSymbolicLink()) {
      if (info.uid !== 0 && info.uid !== uid)
        throw refuse(
          target,
          `the link ${next} on its path is owned by uid ${info.uid}, not by root or uid ${uid}`,
        );
      if (++links > MAX_LINKS) throw refuse(target, `more than ${MAX_LINKS} links on its path`);
      const to = readlinkSync(next);
      queue.unshift(...to.split("/").filter(Boolean));
      if (isAbsolute(to)) at = "/";
      continue;
    }
    if (queue.length === 0) {
      checkFinal(target, info, uid);
      return;
    }
    if (!info.isDirectory()) throw refuse(target, `${next} on its path is not a directory`);
    checkAncestor(target, next, info, uid);
    at = next;
  }
}

/**
 * `dir` must be trusted, and each of `subdirs` (relative, checked when they
 * exist) must be a real folder of ours, not a link, not writable by group or
 * others: the agent walks through them without a second look.
 */
export function checkTrustedTree(
  dir: Omit<TrustedPath, "kind">,
  subdirs: readonly string[],
  uid: number,
): void {
  checkTrustedPath({ ...dir, kind: "dir" }, uid);
  for (const sub of subdirs) {
    const path = resolve(dir.path, sub);
    const info = lstatOrNull({ ...dir, path, kind: "dir" }, path);
    if (info === null) continue;
    const named: TrustedPath = { key: dir.key, path, kind: "dir" };
    if (info.isSymbolicLink())
      throw refuse(named, "a symlink where the agent keeps a folder of its own");
    checkFinal(named, info, uid);
  }
}

/** Whether others than root (or us) could write it: other-write, or group-write for a group that is not root's. */
export function writableByOthers(info: Stats): boolean {
  return (info.mode & OTHER_WRITE) !== 0 || ((info.mode & GROUP_WRITE) !== 0 && info.gid !== 0);
}

/**
 * Every entry below `root` is ours and not writable by anyone but root or us
 * (links are judged by the folder that holds them). For a tree the agent did
 * not make with its own modes, such as a slot left by an older updater,
 * before it goes live again. Throws E_UNSAFE_PATH naming the first entry at
 * fault and the remedy.
 */
export function checkOwnTree(target: Omit<TrustedPath, "kind">, uid: number): void {
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const info = lstatSync(path);
      if (info.isSymbolicLink()) continue;
      if (info.uid !== uid || writableByOthers(info))
        throw refuse(
          { ...target, kind: "file" },
          `${path} is owned by uid ${info.uid}, group ${info.gid}, with mode ${modeText(info.mode)}, so someone else may have changed it (left by an older updater? check it, then chown -R root: and chmod -R go-w ${target.path})`,
        );
      if (info.isDirectory()) walk(path);
    }
  };
  walk(target.path);
}
