/**
 * The in-flight record: state_dir/inflight.json, written before anything
 * live moves and updated after each live step, removed once the cycle's
 * report is in the outbox. After a crash it tells recovery what the update
 * was, how far it got and exactly what to undo (Mender's "each state
 * persists itself on entry").
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic.js";
import type { ReleaseInfo } from "../layout/release-file.js";
import type { StepRecord } from "./step-record.js";
import type { PromoteRecord } from "./steps/promote.js";
import type { UnitChange } from "./steps/units.js";

export type InflightPhase =
  // a manual rollback (kind "rollback"): before and after its slot swap
  | "swapping"
  | "swapped"
  // an update
  | "rotating"
  | "rotated"
  | "promoted"
  | "units"
  | "restarted"
  // the system shut down during the restart or the probe: recovery restarts the agent and probes
  | "interrupted"
  | "rolling_back";

export interface InflightRecord {
  schema: 1;
  /** Absent (older records) or "update": an update; "rollback": a manual rollback. */
  kind?: "update" | "rollback";
  report_id: string;
  started_at: string;
  /** null for a manual rollback (no manifest decided it). */
  manifest_serial: number | null;
  from: ReleaseInfo | null;
  /** version null: a manual rollback to a slot whose release file names none (DECNET's own). */
  target: { sha: string; version: string | null };
  venv: string;
  had_active: boolean;
  phase: InflightPhase;
  promote: PromoteRecord | null;
  /** Replaced unit files, old bytes in base64 (null: the update added the unit). */
  unit_changes: Array<{ name: string; previous: string | null }>;
  /** A manual rollback's unit files to remove (the newer release added them). */
  unit_removals?: string[];
  steps: StepRecord[];
}

export function inflightPath(stateDir: string): string {
  return join(stateDir, "inflight.json");
}

export async function saveInflight(stateDir: string, record: InflightRecord): Promise<void> {
  await writeFileAtomic(inflightPath(stateDir), `${JSON.stringify(record)}\n`, 0o600);
}

export async function loadInflight(stateDir: string): Promise<InflightRecord | null> {
  try {
    const doc = JSON.parse(await readFile(inflightPath(stateDir), "utf8")) as InflightRecord;
    return doc.schema === 1 ? doc : null;
  } catch {
    return null;
  }
}

export async function clearInflight(stateDir: string): Promise<void> {
  await rm(inflightPath(stateDir), { force: true });
}

export function encodeUnitChanges(changes: readonly UnitChange[]): InflightRecord["unit_changes"] {
  return changes.map((c) => ({
    name: c.name,
    previous: c.previous ? c.previous.toString("base64") : null,
  }));
}

export function decodeUnitChanges(changes: InflightRecord["unit_changes"]): UnitChange[] {
  return changes.map((c) => ({
    name: c.name,
    previous: c.previous === null ? null : Buffer.from(c.previous, "base64"),
  }));
}
