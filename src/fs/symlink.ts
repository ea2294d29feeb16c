/**
 * Symlinks replaced with rename(2): a reader sees the old target or the new
 * one, never a missing link. Used for `current`, `venv` and the PATH link.
 */
import { readlink, rename, rm, symlink } from "node:fs/promises";
import { dirname } from "node:path";
import { fsyncDir } from "./atomic.js";
import { tempNameBeside } from "./exclusive.js";

export async function pointSymlink(link: string, target: string): Promise<void> {
  const temp = tempNameBeside(link);
  await symlink(target, temp);
  try {
    await rename(temp, link);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dirname(link));
}

/** The link's target, or null when `path` is missing or not a symlink. */
export async function readLinkOrNull(path: string): Promise<string | null> {
  try {
    return await readlink(path);
  } catch {
    return null;
  }
}
