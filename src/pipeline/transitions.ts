/**
 * Every way the install dir changes, as pure transition tables (after
 * Mender's state graph): a step reports "ok" or "fail", and only its table
 * picks what runs next. One runner (machine.ts) runs them all.
 *
 * - The update: before `rotate` nothing live has changed, so a failure just
 *   ends the cycle; from `rotate` on, a failure rolls back.
 * - Recovery enters the update's table at the step the in-flight record
 *   says it stopped before (recoveryEntry): the probe, or the rollback.
 * - The manual rollback: its own rows, the slot swap first.
 * - The updater's own install: download, verify, extract, then the flip.
 */
import type { Failpoint } from "./failpoints.js";

/** One table: where it starts, its rows, and the failpoint that fires after a step went ok. */
export interface Machine<Step extends string, End extends string> {
  first: Step;
  rows: Record<Step, Record<StepEvent, Step | End>>;
  ends: readonly End[];
  failpointAfter: Partial<Record<Step, Failpoint>>;
  /**
   * Where a stop request (SIGTERM, SIGINT) ends the table: before a step
   * named here, or when it failed under the stop. Steps not named run on.
   */
  onStop?: Partial<Record<Step, End>>;
  /**
   * Where a failure while the system shuts down ends the table instead of
   * the step's "fail" row: the init system refuses restarts then, so the
   * failure says nothing about the release, and the next start finishes.
   */
  onShutdown?: Partial<Record<Step, End>>;
}
export const STEPS = [
  "download",
  "verify",
  "extract",
  "install",
  "smoke",
  "rotate",
  "promote",
  "units",
  "restart",
  "probe",
  "rollback",
] as const;

export type StepName = (typeof STEPS)[number];
export type StepEvent = "ok" | "fail";
/**
 * abandoned: stopped before anything live changed (nothing marked or
 * counted; the next cycle tries again). interrupted: the system shut down
 * after rotation; the in-flight record stays for the next start's recovery.
 */
export type Terminal =
  | "committed"
  | "failed"
  | "rolled_back"
  | "rollback_failed"
  | "abandoned"
  | "interrupted";

export const TRANSITIONS: Record<StepName, Record<StepEvent, StepName | Terminal>> = {
  download: { ok: "verify", fail: "failed" },
  verify: { ok: "extract", fail: "failed" },
  extract: { ok: "install", fail: "failed" },
  install: { ok: "smoke", fail: "failed" },
  smoke: { ok: "rotate", fail: "failed" },
  rotate: { ok: "promote", fail: "rollback" },
  promote: { ok: "units", fail: "rollback" },
  units: { ok: "restart", fail: "rollback" },
  restart: { ok: "probe", fail: "rollback" },
  probe: { ok: "committed", fail: "rollback" },
  rollback: { ok: "rolled_back", fail: "rollback_failed" },
};

export const FIRST_STEP: StepName = "download";

export const UPDATE: Machine<StepName, Terminal> = {
  first: FIRST_STEP,
  rows: TRANSITIONS,
  ends: ["committed", "failed", "rolled_back", "rollback_failed", "abandoned", "interrupted"],
  onStop: {
    download: "abandoned",
    verify: "abandoned",
    extract: "abandoned",
    install: "abandoned",
    smoke: "abandoned",
  },
  onShutdown: { restart: "interrupted", probe: "interrupted", rollback: "interrupted" },
  failpointAfter: {
    download: "after-download",
    extract: "after-extract",
    install: "after-install",
    rotate: "after-rotate",
    promote: "after-promote",
    units: "after-units",
    restart: "after-restart",
    rollback: "after-rollback",
  },
};

/**
 * Where recovery enters the update's table: an update that had restarted
 * the agent, and whose slot is live, is probed (healthy: it commits); one
 * the system's shutdown interrupted restarts the agent first; any other is
 * rolled back from what the record says it changed.
 */
export function recoveryEntry(
  phase: string,
  ownSlotLive: boolean,
): "restart" | "probe" | "rollback" {
  if (!ownSlotLive) return "rollback";
  if (phase === "interrupted") return "restart";
  return phase === "restarted" ? "probe" : "rollback";
}

export const MANUAL_ROLLBACK_STEPS = ["rollback", "units", "restart", "probe"] as const;
export type ManualRollbackStep = (typeof MANUAL_ROLLBACK_STEPS)[number];

/**
 * The manual `rollback`: the slots swap (and `venv` follows), the previous
 * release's units come back, the agent restarts and must probe healthy.
 * Nothing is undone on a failure: the host needs an operator then.
 */
export const MANUAL_ROLLBACK: Machine<ManualRollbackStep, "rolled_back" | "rollback_failed"> = {
  first: "rollback",
  rows: {
    rollback: { ok: "units", fail: "rollback_failed" },
    units: { ok: "restart", fail: "rollback_failed" },
    restart: { ok: "probe", fail: "rollback_failed" },
    probe: { ok: "rolled_back", fail: "rollback_failed" },
  },
  ends: ["rolled_back", "rollback_failed"],
  failpointAfter: { probe: "after-rollback" },
};

export const SELF_INSTALL_STEPS = ["download", "verify", "extract", "rotate"] as const;
export type SelfInstallStep = (typeof SELF_INSTALL_STEPS)[number];

/** The updater's own install: nothing runs it here; the launcher counts its trial starts. */
export const SELF_INSTALL: Machine<SelfInstallStep, "installed" | "failed"> = {
  first: "download",
  rows: {
    download: { ok: "verify", fail: "failed" },
    verify: { ok: "extract", fail: "failed" },
    extract: { ok: "rotate", fail: "failed" },
    rotate: { ok: "installed", fail: "failed" },
  },
  ends: ["installed", "failed"],
  failpointAfter: {},
};

export function isTerminal(next: StepName | Terminal): next is Terminal {
  return !(STEPS as readonly string[]).includes(next);
}

/** Whether a step changes something live (and so needs a rollback if a later one fails). */
export function isLive(step: StepName): boolean {
  return STEPS.indexOf(step) >= STEPS.indexOf("rotate");
}
