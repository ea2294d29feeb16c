/**
 * The release slots: releases/{active,prev,older,failed,active.new}. Every
 * move is a rename(2) inside releases/, followed by an fsync of the folder,
 * so a crash leaves each slot either where it was or where it was going.
 *
 * The way back is kept until an update has proven itself (SPEC section 14,
 * §2). Rotation moves prev to `older` instead of deleting it; a commit drops
 * `older`; a rollback moves the new release aside to `failed`, active back,
 * and `older` back to prev. So after a rollback prev holds the last good
 * release, never the one that just failed, and a manual `rollback` cannot
 * land on a known-bad release.
 */
import { chmod, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "../../fs/atomic.js";
import { exists } from "../../fs/exists.js";
import { pointSymlink, readLinkOrNull } from "../../fs/symlink.js";
import type { InstallPaths } from "../../layout/paths.js";
import { readReleaseFile } from "../../layout/release-file.js";

/** A release slot's mode once it is live (staging is 0700 while it is built). */
export const SLOT_MODE = 0o755;

/** Temp name while two slots trade places (see swapSlots). */
export function swapPath(paths: InstallPaths): string {
  return join(paths.releases, "swap");
}

/**
 * prev -> older, active -> prev, active.new -> active. Returns whether there
 * was an active release (a first install has none). `beforeStaging` runs
 * between the last two renames (the mid-rotate failpoint). Do not reorder:
 * undoRotation reads how far it got from which slots exist.
 */
export async function rotateSlots(
  paths: InstallPaths,
  beforeStaging: () => void = () => undefined,
): Promise<boolean> {
  // Left by nothing but a crash that recovery already settled.
  await rm(paths.older, { recursive: true, force: true });
  if (await exists(paths.prev)) await rename(paths.prev, paths.older);
  const hadActive = await exists(paths.active);
  if (hadActive) await rename(paths.active, paths.prev);
  beforeStaging();
  // Opened to others only now that it is complete and goes live.
  await chmod(paths.staging, SLOT_MODE);
  await rename(paths.staging, paths.active);
  await fsyncDir(paths.releases);
  await ensureCurrent(paths);
  return hadActive;
}

/** The update that rotated in `updateId` proved itself: the release before prev goes. Idempotent. */
export async function commitRotation(paths: InstallPaths): Promise<void> {
  if (!(await exists(paths.older))) return;
  await rm(paths.older, { recursive: true, force: true });
  await fsyncDir(paths.releases);
}

/**
 * Undoes rotateSlots, also one that stopped half way (a crash), and is
 * idempotent, so recovery may run it again after a crash inside it. The
 * release of `updateId` (its release file names it) leaves `active` for
 * `failed`; the previous one comes back from prev, and the one before it
 * from `older`. With no previous release (a first install) `active` is just
 * emptied. `updateId` null: only the half-done moves are finished.
 */
export async function undoRotation(paths: InstallPaths, updateId: string | null): Promise<void> {
  const active = await readReleaseFile(paths.active);
  if (updateId !== null && active?.update_id === updateId) {
    await rm(paths.failed, { recursive: true, force: true });
    await rename(paths.active, paths.failed);
  }
  if (!(await exists(paths.active)) && (await exists(paths.prev)))
    await rename(paths.prev, paths.active);
  if (!(await exists(paths.prev)) && (await exists(paths.older)))
    await rename(paths.older, paths.prev);
  await rm(paths.staging, { recursive: true, force: true });
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

/** active <-> prev, through releases/swap (the manual rollback). */
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
