/**
 * New files the agent writes as root are created, never opened: O_CREAT |
 * O_EXCL | O_NOFOLLOW under a random name. If anything already has that
 * name (a file, or a symlink a local user planted to a file of root's
 * choosing), the open fails instead of writing through it.
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Creates `path`, which must not exist (EEXIST otherwise, also for a symlink). */
export function createExclusive(path: string, mode: number): Promise<FileHandle> {
  return open(path, CREATE_FLAGS, mode);
}

/**
 * A fresh, unguessable name beside `path` for its temp file: `.<name>.<12 hex>.<suffix>`.
 * node:crypto is loaded here, on first use: `status` reads through this
 * module and never writes (docs/performance.md, "Round three").
 */
export function tempNameBeside(path: string, suffix = "tmp"): string {
  const random = process.getBuiltinModule("node:crypto").randomBytes(6).toString("hex");
  return join(dirname(path), `.${basename(path)}.${random}.${suffix}`);
}
