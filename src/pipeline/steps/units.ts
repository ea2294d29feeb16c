/**
 * systemd unit files shipped by a release in etc/systemd/system/*.service.
 *
 * `planUnits` runs on the staged release, before anything live changes, and
 * refuses a release that ships a unit outside `units.allow`, or one of the
 * updater's own units (decnet-updater*), which no glob can allow: an app
 * release must never replace the hardened unit that runs its own updater. `syncUnits`
 * writes only files whose bytes differ and returns what it replaced (old
 * bytes, or null for a unit it added) so `revertUnits` restores exactly that.
 */
import { constants } from "node:fs";
import { lstat, open, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { UpdaterError } from "../../errors.js";
import { writeFileAtomic } from "../../fs/atomic.js";
import { writableByOthers } from "../../fs/trust.js";

export const RELEASE_UNITS_DIR = "etc/systemd/system";

export interface UnitFile {
  name: string;
  bytes: Buffer;
}

export interface UnitChange {
  name: string;
  /** The replaced file's bytes, or null when the release added the unit. */
  previous: Buffer | null;
}

/** A unit-name glob ("decnet-*.service") as a whole-name regular expression. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${body}$`);
}

/** The updater's own units: never a release's to install, whatever units.allow says. */
export const UPDATER_UNIT = /^decnet-updater[^/]*\.(service|timer)$/;

/**
 * A unit file's bytes, read so that nothing planted in the release can
 * stand in for it: etc/, etc/systemd/ and the units folder must be real
 * folders of ours that nobody else can write, the file a regular file of
 * ours opened with O_NOFOLLOW. What this agent extracted always passes; a
 * slot left by an older updater with an archive's 0777 folders does not.
 */
async function readUnit(releaseDir: string, name: string): Promise<Buffer> {
  const uid = process.getuid?.() ?? 0;
  const refuse = (path: string, why: string) =>
    new UpdaterError("E_UNITS", `release unit ${path}: ${why}; a local user could have changed it`);
  let at = releaseDir;
  for (const part of [...RELEASE_UNITS_DIR.split("/"), name]) {
    at = join(at, part);
    const info = await lstat(at);
    const file = part === name;
    if (info.isSymbolicLink()) throw refuse(at, "a symlink");
    if (file ? !info.isFile() : !info.isDirectory())
      throw refuse(at, file ? "not a regular file" : "not a folder");
    if (info.uid !== uid || writableByOthers(info))
      throw refuse(
        at,
        `owned by uid ${info.uid}, group ${info.gid}, with mode ${(info.mode & 0o7777).toString(8).padStart(4, "0")}`,
      );
  }
  const handle = await open(at, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export async function planUnits(releaseDir: string, allow: readonly string[]): Promise<UnitFile[]> {
  const dir = join(releaseDir, RELEASE_UNITS_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith(".service")).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const own = names.filter((name) => UPDATER_UNIT.test(name));
  if (own.length > 0) {
    throw new UpdaterError(
      "E_UNITS",
      `release ships unit ${own.join(", ")}: the updater's own units are never a release's to install (units.allow cannot allow them)`,
    );
  }
  const patterns = allow.map(globToRegExp);
  const refused = names.filter((name) => !patterns.some((pattern) => pattern.test(name)));
  if (refused.length > 0) {
    throw new UpdaterError(
      "E_UNITS",
      `release ships unit ${refused.join(", ")} outside units.allow (${allow.join(", ") || "nothing allowed"})`,
    );
  }
  return Promise.all(
    names.map(async (name) => ({ name, bytes: await readUnit(releaseDir, name) })),
  );
}

/** The changes `syncUnits` would make, with the bytes it would replace; writes nothing. */
export async function previewUnitChanges(
  units: readonly UnitFile[],
  unitsDir: string,
): Promise<UnitChange[]> {
  const changes: UnitChange[] = [];
  for (const unit of units) {
    const previous = await readFile(join(unitsDir, unit.name)).catch(() => null);
    if (!previous?.equals(unit.bytes)) changes.push({ name: unit.name, previous });
  }
  return changes;
}

export async function syncUnits(
  units: readonly UnitFile[],
  unitsDir: string,
): Promise<UnitChange[]> {
  const changes: UnitChange[] = [];
  const bytesOf = new Map(units.map((unit) => [unit.name, unit.bytes]));
  for (const change of await previewUnitChanges(units, unitsDir)) {
    // Recorded before the write: a failure mid-sync still reverts what was written.
    changes.push(change);
    await writeFileAtomic(join(unitsDir, change.name), bytesOf.get(change.name) as Buffer, 0o644);
  }
  return changes;
}

export async function revertUnits(changes: readonly UnitChange[], unitsDir: string): Promise<void> {
  for (const change of [...changes].reverse()) {
    const target = join(unitsDir, change.name);
    if (change.previous === null) await rm(target, { force: true });
    else await writeFileAtomic(target, change.previous, 0o644);
  }
}

/** Removes units by name from `unitsDir` (a manual rollback drops what the newer release added); returns how many went. */
export async function removeUnits(names: readonly string[], unitsDir: string): Promise<number> {
  let removed = 0;
  for (const name of names) {
    if (UPDATER_UNIT.test(name) || name.includes("/")) continue; // never ours, never a path
    const target = join(unitsDir, name);
    if ((await readFile(target).catch(() => null)) === null) continue;
    await rm(target, { force: true });
    removed++;
  }
  return removed;
}
