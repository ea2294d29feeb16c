/**
 * A fingerprint of a folder tree (type, mode, file size, mtime and content hash,
 * link target of every entry) so a refusal test can assert that nothing
 * changed on disk, not just that an error was thrown.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

export type Snapshot = Record<string, string>;

export async function snapshot(root: string): Promise<Snapshot> {
  const out: Snapshot = {};
  async function walk(dir: string, rel: string): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const name of names) {
      const path = join(dir, name);
      const key = rel ? `${rel}/${name}` : name;
      const st = await lstat(path);
      const base = `mode=${(st.mode & 0o7777).toString(8)} mtime=${st.mtimeMs}`;
      if (st.isSymbolicLink()) out[key] = `link -> ${await readlink(path)}`;
      else if (st.isDirectory()) {
        // A folder's mtime moves when staging is created and removed inside it
        // (releases/active.new); what it holds is compared entry by entry.
        out[key] = `dir mode=${(st.mode & 0o7777).toString(8)}`;
        await walk(path, key);
      } else if (st.isFile()) {
        const digest = createHash("sha256")
          .update(await readFile(path))
          .digest("hex");
        out[key] = `file ${base} size=${st.size} sha256=${digest}`;
      } else out[key] = `other ${base}`;
    }
  }
  await walk(root, "");
  return out;
}
