/**
 * Symlinks replaced with rename(2): a reader sees the old target or the new
 * one, never a missing link. Used for `current`, `venv` and the PATH link.
 */
import { randomBytes } from "node:crypto";
import { readlink, rename, rm, symlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fsyncDir } from "./atomic.js";

export async function pointSymlink(link: string, target: string): Promise<void> {
  const temp = join(dirname(link), `.${basename(link)}.${randomBytes(6).toString("hex")}.tmp`);
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
