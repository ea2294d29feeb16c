/**
 * Flip `venv` to the new release's venv and point the PATH symlink through
 * it. Returns exactly what it changed so `revertPromote` undoes that and
 * nothing else.
 *
 * Adopting a host installed by the Python original: its `venv` is a real
 * directory. It is moved to venvs/<sha of the release it served, or
 * "legacy"> before the flip, so a rollback can point `venv` back at it; its
 * scripts keep working because they resolve through the `venv` path.
 */
import { lstat, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { exists } from "../../fs/exists.js";
import { pointSymlink, readLinkOrNull } from "../../fs/symlink.js";
import type { InstallPaths } from "../../layout/paths.js";

export interface PromoteRecord {
  /** What `venv` pointed at before ("venvs/<dir>"), or null when there was none. */
  venvBefore: string | null;
  /** The PATH symlink's old target; undefined when it was not touched. */
  pathLinkBefore?: string | null;
  pathLink?: string;
}

/** Moves a real `venv` directory into venvs/ and links it; returns its new relative path. */
export async function adoptLegacyVenv(
  paths: InstallPaths,
  servedSha: string | null,
): Promise<string | null> {
  const stat = await lstat(paths.venvLink).catch(() => null);
  if (!stat || stat.isSymbolicLink() || !stat.isDirectory()) return null;
  await mkdir(paths.venvs, { recursive: true });
  let name = servedSha ?? "legacy";
  if (await exists(join(paths.venvs, name))) name = `${name}.adopted-${Date.now()}`;
  await rename(paths.venvLink, join(paths.venvs, name));
  const relative = `venvs/${name}`;
  await pointSymlink(paths.venvLink, relative);
  return relative;
}

export async function promote(
  paths: InstallPaths,
  venvRelative: string,
  pathLink: string,
): Promise<PromoteRecord> {
  const record: PromoteRecord = { venvBefore: await readLinkOrNull(paths.venvLink) };
  await pointSymlink(paths.venvLink, venvRelative);
  if (pathLink !== "") {
    const target = join(paths.venvLink, "bin/decnet");
    const before = await readLinkOrNull(pathLink);
    if (before !== target) {
      await mkdir(dirname(pathLink), { recursive: true });
      record.pathLinkBefore = before;
      record.pathLink = pathLink;
      await pointSymlink(pathLink, target);
    }
  }
  return record;
}

export async function revertPromote(paths: InstallPaths, record: PromoteRecord): Promise<void> {
  if (record.venvBefore !== null) await pointSymlink(paths.venvLink, record.venvBefore);
  if (record.pathLink !== undefined) {
    if (record.pathLinkBefore) await pointSymlink(record.pathLink, record.pathLinkBefore);
    else await rm(record.pathLink, { force: true });
  }
}
