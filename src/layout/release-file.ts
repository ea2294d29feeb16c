/**
 * `.decnet-release.json`, the marker of a complete release slot. DECNET
 * writes {sha, installed_at}; this agent adds version, sha256 and
 * manifest_serial. Readers tolerate a missing or unreadable file (the sha is
 * then unknown, so any target counts as different) and extra keys.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export const RELEASE_FILE = ".decnet-release.json";

export interface ReleaseInfo {
  sha: string;
  version: string | null;
  installed_at: string | null;
}

export async function readReleaseFile(slotDir: string): Promise<ReleaseInfo | null> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(join(slotDir, RELEASE_FILE), "utf8"));
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null) return null;
  const { sha, version, installed_at } = doc as Record<string, unknown>;
  if (typeof sha !== "string" || sha === "") return null;
  return {
    sha,
    version: typeof version === "string" ? version : null,
    installed_at: typeof installed_at === "string" ? installed_at : null,
  };
}
