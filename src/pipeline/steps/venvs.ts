/**
 * venvs/<dir>: one virtualenv per release. Only the venvs of the active and
 * previous releases are kept; the rest are removed after a commit.
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { readLinkOrNull } from "../../fs/symlink.js";
import type { InstallPaths } from "../../layout/paths.js";
import { type ReleaseInfo, readReleaseFile } from "../../layout/release-file.js";

/** The venv a slot runs with: its release file's record, else venvs/<sha>. */
export function slotVenv(info: ReleaseInfo | null): string | null {
  if (!info) return null;
  return info.venv ?? `venvs/${info.sha}`;
}

/**
 * Where the staged release's venv goes. Normally venvs/<sha>; when that venv
 * is in use (a --force reinstall of a live sha) a fresh name, because a venv
 * can never be moved or rebuilt in place under a running agent.
 */
export async function chooseVenv(paths: InstallPaths, sha: string, nowMs: number): Promise<string> {
  const inUse = new Set([
    await readLinkOrNull(paths.venvLink),
    slotVenv(await readReleaseFile(paths.active)),
    slotVenv(await readReleaseFile(paths.prev)),
  ]);
  const plain = `venvs/${sha}`;
  return inUse.has(plain) ? `venvs/${sha}.${nowMs}` : plain;
}

/** Removes venvs that neither slot nor the `venv` link uses. Idempotent. */
export async function pruneVenvs(paths: InstallPaths): Promise<string[]> {
  const keep = new Set([
    await readLinkOrNull(paths.venvLink),
    slotVenv(await readReleaseFile(paths.active)),
    slotVenv(await readReleaseFile(paths.prev)),
  ]);
  const removed: string[] = [];
  for (const name of await readdir(paths.venvs).catch(() => [] as string[])) {
    if (keep.has(`venvs/${name}`)) continue;
    await rm(join(paths.venvs, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
