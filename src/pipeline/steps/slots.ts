/**
 * The release slots: releases/{active,prev,active.new}. Every move is a
 * rename(2) inside releases/, followed by an fsync of the folder, so a crash
 * leaves each slot either where it was or where it was going.
 */
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "../../fs/atomic.js";
import { exists } from "../../fs/exists.js";
import { pointSymlink, readLinkOrNull } from "../../fs/symlink.js";
import type { InstallPaths } from "../../layout/paths.js";

/** Temp name while two slots trade places (see swapSlots). */
export function swapPath(paths: InstallPaths): string {
  return join(paths.releases, "swap");
}

/**
 * prev deleted, active -> prev, active.new -> active. Returns whether there
 * was an active release (a first install has none).
 * `beforeStaging` runs between the two renames (the mid-rotate failpoint).
 */
export async function rotateSlots(
  paths: InstallPaths,
  beforeStaging: () => void = () => undefined,
): Promise<boolean> {
  await rm(paths.prev, { recursive: true, force: true });
  const hadActive = await exists(paths.active);
  if (hadActive) await rename(paths.active, paths.prev);
  beforeStaging();
  await rename(paths.staging, paths.active);
  await fsyncDir(paths.releases);
  await ensureCurrent(paths);
  return hadActive;
}

/**
 * Undoes rotateSlots, also a half-done one: the new release leaves `active`
 * and the old one comes back from `prev`. With no old release (a first
 * install) `active` is just removed. Idempotent.
 */
export async function undoRotation(paths: InstallPaths, hadActive: boolean): Promise<void> {
  await rm(paths.staging, { recursive: true, force: true });
  if (!hadActive) {
    await rm(paths.active, { recursive: true, force: true });
    return;
  }
  if (!(await exists(paths.active))) {
    // stopped between active -> prev and active.new -> active
    if (await exists(paths.prev)) await rename(paths.prev, paths.active);
  } else if (await exists(paths.prev)) {
    await swapSlots(paths);
  }
  await fsyncDir(paths.releases);
}

/** Finishes a swapSlots that stopped half way (a crash); false when there was none. */
export async function finishSwap(paths: InstallPaths): Promise<boolean> {
  const temp = swapPath(paths);
  if (!(await exists(temp))) return false;
  if (!(await exists(paths.active)) && (await exists(paths.prev)))
    await rename(paths.prev, paths.active);
  if (!(await exists(paths.prev))) await rename(temp, paths.prev);
  else await rm(temp, { recursive: true, force: true });
  await fsyncDir(paths.releases);
  return true;
}

/** active <-> prev, through releases/swap. */
export async function swapSlots(paths: InstallPaths): Promise<void> {
  const temp = swapPath(paths);
  await rm(temp, { recursive: true, force: true });
  await rename(paths.active, temp);
  await rename(paths.prev, paths.active);
  await rename(temp, paths.prev);
  await fsyncDir(paths.releases);
}

/** `current` always points at releases/active (relative, so the tree can move). */
export async function ensureCurrent(paths: InstallPaths): Promise<void> {
  if ((await readLinkOrNull(paths.current)) !== "releases/active") {
    await pointSymlink(paths.current, "releases/active");
  }
}
