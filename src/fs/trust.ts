/**
 * Whether a directory the agent writes as root can be trusted, like sshd's
 * StrictModes: the directory is owned by the running user and not writable
 * by group or others, and every folder above it is owned by root or that
 * user and not writable by others unless sticky (as /tmp is: nobody can
 * rename what another user made in it). Otherwise someone else could swap
 * the directory or what is in it: roll the serial back by editing
 * state.json, or plant a file or link that root then writes through.
 *
 * A directory that does not exist yet is judged by the folder it will be
 * made in. A symlinked directory is judged where it points, and the folder
 * that holds the link is judged too.
 */
import { lstat, realpath, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { UpdaterError } from "../errors.js";

const OTHER_WRITE = 0o002;
const GROUP_WRITE = 0o020;
const STICKY = 0o1000;

export interface TrustedDir {
  /** The config key that names it, for the message. */
  key: string;
  path: string;
}

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function refuse(dir: TrustedDir, problem: string): UpdaterError {
  return new UpdaterError(
    "E_UNSAFE_DIR",
    `${dir.key} ${dir.path}: ${problem}; the agent writes there as root, so nobody else may be able to change it`,
  );
}

/** The nearest folder that exists at or above `path`, and whether it is `path` itself. */
async function nearestExisting(path: string): Promise<{ at: string; missing: boolean }> {
  let at = resolve(path);
  let missing = false;
  for (;;) {
    const found = await lstat(at).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return false;
        throw error;
      },
    );
    if (found) return { at, missing };
    missing = true;
    const up = dirname(at);
    if (up === at) return { at, missing };
    at = up;
  }
}

/** Every folder from `real` up to "/" must be root's or ours and, unless sticky, not other-writable. */
async function checkAncestors(dir: TrustedDir, real: string, uid: number): Promise<void> {
  for (let at = real; ; at = dirname(at)) {
    const info = await stat(at);
    if (info.uid !== 0 && info.uid !== uid)
      throw refuse(
        dir,
        `the folder ${at} above it is owned by uid ${info.uid} (mode ${modeText(info.mode)}), not by root or uid ${uid}`,
      );
    if (info.mode & OTHER_WRITE && !(info.mode & STICKY))
      throw refuse(
        dir,
        `the folder ${at} above it is writable by others and not sticky (mode ${modeText(info.mode)}, owner uid ${info.uid})`,
      );
    if (dirname(at) === at) return;
  }
}

/**
 * Throws E_UNSAFE_DIR naming the key, the directory, its owner and its mode
 * when `dir` cannot be trusted by a process running as `uid`.
 */
export async function checkTrustedDir(dir: TrustedDir, uid: number): Promise<void> {
  const { at, missing } = await nearestExisting(dir.path);
  // The link (or the folder) lives in its parent: that parent must be trusted as well.
  const holder = missing ? at : dirname(resolve(dir.path));
  await checkAncestors(dir, await realpath(holder), uid);
  if (missing) return;
  const real = await realpath(dir.path);
  const info = await stat(real);
  if (!info.isDirectory()) throw refuse(dir, `not a directory (mode ${modeText(info.mode)})`);
  if (info.uid !== uid || info.mode & (GROUP_WRITE | OTHER_WRITE))
    throw refuse(
      dir,
      `owned by uid ${info.uid} with mode ${modeText(info.mode)}; expected owner uid ${uid} (the running user) and no write access for group or others`,
    );
  if (real !== resolve(dir.path)) await checkAncestors(dir, dirname(real), uid);
}

/**
 * `dir` must be trusted, and each of `subdirs` (relative, checked when they
 * exist) must be a real folder of ours, not a link, not writable by group or
 * others: the agent walks through them without a second look.
 */
export async function checkTrustedTree(
  dir: TrustedDir,
  subdirs: readonly string[],
  uid: number,
): Promise<void> {
  await checkTrustedDir(dir, uid);
  for (const sub of subdirs) {
    const path = resolve(dir.path, sub);
    const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null;
      throw error;
    });
    if (info === null) continue;
    const named = { key: dir.key, path };
    if (info.isSymbolicLink())
      throw refuse(named, "a symlink where the agent keeps a folder of its own");
    if (!info.isDirectory()) throw refuse(named, `not a directory (mode ${modeText(info.mode)})`);
    if (info.uid !== uid || info.mode & (GROUP_WRITE | OTHER_WRITE))
      throw refuse(
        named,
        `owned by uid ${info.uid} with mode ${modeText(info.mode)}; expected owner uid ${uid} and no write access for group or others`,
      );
  }
}
