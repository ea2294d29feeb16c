/**
 * Crash-safe file replacement: write a temp file beside the target, fsync
 * it, rename(2) over the target, fsync the folder. After a crash the target
 * holds either the old bytes or the new ones, never a torn mix.
 * Do not reorder these steps.
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createExclusive, tempNameBeside } from "./exclusive.js";

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeFileAtomic(
  path: string,
  data: string | Buffer,
  mode = 0o644,
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const temp = tempNameBeside(path);
  try {
    const handle = await createExclusive(temp, mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}
