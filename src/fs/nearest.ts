/**
 * A question about a path the agent will create: asked of the path, or of
 * the nearest folder above it that exists (free space there, whether it can
 * be written). ENOENT from `probe` moves one level up; any other error is
 * the caller's.
 */
import { dirname } from "node:path";

export async function atNearestExisting<T>(
  path: string,
  probe: (dir: string) => Promise<T>,
): Promise<{ dir: string; value: T }> {
  let dir = path;
  for (;;) {
    try {
      return { dir, value: await probe(dir) };
    } catch (error) {
      const parent = dirname(dir);
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === dir) throw error;
      dir = parent;
    }
  }
}
