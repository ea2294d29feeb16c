/**
 * state.json: what this host has accepted and decided. Written atomically.
 *
 * The highest accepted serial is the host's defence against a replayed or
 * rolled-back feed, so a state file that cannot be read is never treated as
 * empty: that would accept an older serial. It is refused with E_STATE until
 * an operator restores it (or, from the durability work, runs `clear --state`).
 */
import { readFile } from "node:fs/promises";
import { oneLine, UpdaterError } from "../errors.js";
import { writeFileAtomic } from "../fs/atomic.js";

export interface CheckRecord {
  at: string;
  status: string;
  error: string | null;
  manifest_serial: number | null;
}

export interface FailedRelease {
  version: string;
  marked_at: string;
  attempts: number;
  error: string;
}

export interface State {
  schema: 1;
  highest_serial: number | null;
  manifest_sha256: string | null;
  etag: string | null;
  last_check: CheckRecord | null;
  last_result: CheckRecord | null;
  failed_releases: Record<string, FailedRelease>;
}

export function emptyState(): State {
  return {
    schema: 1,
    highest_serial: null,
    manifest_sha256: null,
    etag: null,
    last_check: null,
    last_result: null,
    failed_releases: {},
  };
}

export async function loadState(path: string): Promise<State> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyState();
    throw new UpdaterError("E_STATE", `state ${path}: cannot read (${oneLine(error)})`, {
      cause: error,
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt(path, "not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || (doc as State).schema !== 1) {
    throw corrupt(path, "expected an object with schema 1");
  }
  const state = { ...emptyState(), ...(doc as Partial<State>) };
  if (state.highest_serial !== null && !Number.isSafeInteger(state.highest_serial)) {
    throw corrupt(path, "highest_serial is not an integer");
  }
  return state;
}

function corrupt(path: string, why: string): UpdaterError {
  return new UpdaterError(
    "E_STATE",
    `state ${path}: corrupt (${why}); manifests are refused until the file is restored`,
  );
}

export async function saveState(path: string, state: State): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
