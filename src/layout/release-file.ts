/**
 * `.decnet-release.json`, the marker of a complete release slot. DECNET
 * writes {sha, installed_at}; this agent adds version, sha256 and
 * manifest_serial. Readers tolerate a missing or unreadable file (the sha is
 * then unknown, so any target counts as different) and extra keys.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic.js";

export const RELEASE_FILE = ".decnet-release.json";

export interface ReleaseInfo {
  sha: string;
  version: string | null;
  installed_at: string | null;
  /** The slot's venv relative to install_dir ("venvs/<dir>"); absent in DECNET's own files. */
  venv: string | null;
  /** The id of the update that installed the slot (its report id): tells that update's slot from any other. */
  update_id: string | null;
}

/** What this agent writes into a staged slot, last. */
export interface ReleaseRecord {
  sha: string;
  version: string;
  installed_at: string;
  sha256: string;
  manifest_serial: number;
  /** Absent in the updater's own slots (they have no venv). */
  venv?: string;
  update_id: string;
}

export async function readReleaseFile(slotDir: string): Promise<ReleaseInfo | null> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(join(slotDir, RELEASE_FILE), "utf8"));
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null) return null;
  const { sha, version, installed_at, venv, update_id } = doc as Record<string, unknown>;
  if (typeof sha !== "string" || sha === "") return null;
  return {
    sha,
    version: typeof version === "string" ? version : null,
    installed_at: typeof installed_at === "string" ? installed_at : null,
    venv: typeof venv === "string" && /^venvs\/[^/]+$/.test(venv) ? venv : null,
    update_id: typeof update_id === "string" ? update_id : null,
  };
}

/** Written into the staging slot last: its presence marks a complete slot. Do not reorder. */
export async function writeReleaseFile(slotDir: string, record: ReleaseRecord): Promise<void> {
  await writeFileAtomic(join(slotDir, RELEASE_FILE), `${JSON.stringify(record, null, 2)}\n`);
}
