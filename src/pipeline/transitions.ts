/**
 * The update as one pure transition table (after Mender's state graph): a
 * step reports "ok" or "fail", and only this table picks what runs next.
 * Before `rotate` nothing live has changed, so a failure just ends the cycle;
 * from `rotate` on, a failure rolls back.
 */
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
export type Terminal = "committed" | "failed" | "rolled_back" | "rollback_failed";

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

export function isTerminal(next: StepName | Terminal): next is Terminal {
  return !(STEPS as readonly string[]).includes(next);
}

/** Whether a step changes something live (and so needs a rollback if a later one fails). */
export function isLive(step: StepName): boolean {
  return STEPS.indexOf(step) >= STEPS.indexOf("rotate");
}
