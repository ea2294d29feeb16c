/**
 * The property every hostile and failpoint case ends on (issue 15): walk the
 * install dir and the state dir; every entry is owned by the running user,
 * not writable by group or others, never setuid, setgid or sticky, and the
 * only symlinks are `current`, `venv` and a venv's own (python's bin/ and
 * lib64 links inside venvs/<dir>/, and inside the state dir's venv-seed/).
 * Returns nothing; fails naming each entry.
 */
import assert from "node:assert/strict";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, relative } from "node:path";

/** Links the layout has by design (relative to install_dir). */
const LAYOUT_LINKS = new Set(["current", "venv"]);

async function walk(root: string, dir: string, problems: string[], uid: number): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  for (const name of names) {
    const path = join(dir, name);
    const rel = relative(root, path);
    const info = await lstat(path);
    if (info.uid !== uid) problems.push(`${rel}: owned by uid ${info.uid}`);
    if (info.isSymbolicLink()) {
      const insideVenv = /^venvs\/[^/]+\//.test(rel) || /^venv-seed\//.test(rel);
      if (!LAYOUT_LINKS.has(rel) && !insideVenv)
        problems.push(`${rel}: a symlink (-> ${await readlink(path)})`);
      continue;
    }
    const mode = info.mode & 0o7777;
    if (mode & 0o022)
      problems.push(`${rel}: writable by group or others (mode ${mode.toString(8)})`);
    if (mode & 0o7000) problems.push(`${rel}: setuid, setgid or sticky (mode ${mode.toString(8)})`);
    if (info.isDirectory()) await walk(root, path, problems, uid);
  }
}

export async function assertTrustedTree(...roots: string[]): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const problems: string[] = [];
  for (const root of roots) {
    const before = problems.length;
    await walk(root, root, problems, uid);
    for (let i = before; i < problems.length; i++) problems[i] = `${root}/${problems[i]}`;
  }
  assert.deepEqual(problems, [], "every entry is ours, not writable by others, no stray link");
}
