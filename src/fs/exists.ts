/** Whether `path` can be reached (following symlinks); any error, not only ENOENT, counts as absent. */
import { access } from "node:fs/promises";

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
