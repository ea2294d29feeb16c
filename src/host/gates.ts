/**
 * The operator's gates between "this release is the target" and running the
 * pipeline (issue 9): release aging (`pin.min_age`), maintenance windows
 * (`schedule.windows`) and the update budget (`limits.max_updates_per_day`).
 * Pure functions of the configuration, the state and a clock, so `update`,
 * `check` and `plan` decide alike and tests drive them with a fake clock.
 *
 * `--force` (an operator at the keyboard) passes every gate.
 */
import type { Config } from "../config/types.js";
import type { Manifest, Release } from "../feed/manifest.js";
import { nextOpening, openWindow, type Window, windowCloses } from "../schedule/windows.js";
import type { State } from "../state/store.js";

const DAY_MS = 24 * 3600 * 1000;

export type GateName = "min_age" | "window" | "budget";

export interface GateVerdict {
  name: GateName;
  /** True when this gate lets the update through now. */
  open: boolean;
  /** One line: why, and when it opens. */
  reason: string;
  /** When it lets the update through (null: now, or never within the horizon). */
  opens_at: string | null;
}

/** Records the first time this host saw each release of a verified manifest; forgets releases it no longer lists. */
export function noteSightings(state: State, manifest: Manifest, now: Date): void {
  const listed = new Set(manifest.releases.map((r) => r.sha));
  const seen: Record<string, string> = {};
  for (const sha of listed) seen[sha] = state.first_seen[sha] ?? now.toISOString();
  state.first_seen = seen;
}

export function minAgeGate(config: Config, state: State, target: Release, now: Date): GateVerdict {
  const label = `${target.version} (${target.sha.slice(0, 12)})`;
  const minAge = config.pin.min_age_ms;
  if (minAge === undefined)
    return { name: "min_age", open: true, reason: "pin.min_age is not set", opens_at: null };
  if (target.critical)
    return {
      name: "min_age",
      open: true,
      reason: `${label} is marked critical in the signed manifest: pin.min_age does not apply`,
      opens_at: null,
    };
  const firstSeen = Date.parse(state.first_seen[target.sha] ?? now.toISOString());
  const ready = new Date(firstSeen + minAge);
  const seen = new Date(firstSeen).toISOString();
  if (ready.getTime() <= now.getTime())
    return {
      name: "min_age",
      open: true,
      reason: `${label} was first seen here at ${seen}, more than pin.min_age ago`,
      opens_at: null,
    };
  return {
    name: "min_age",
    open: false,
    reason: `${label} was first seen here at ${seen}; pin.min_age lets it in at ${ready.toISOString()}`,
    opens_at: ready.toISOString(),
  };
}

function describeWindow(window: Window, timeZone: string): string {
  return `${window.text} ${timeZone}`;
}

export function windowGate(config: Config, now: Date): GateVerdict {
  const { windows, timezone } = config.schedule;
  if (!windows)
    return { name: "window", open: true, reason: "no maintenance windows", opens_at: null };
  const open = openWindow(windows, now, timezone);
  if (open)
    return {
      name: "window",
      open: true,
      reason: `inside the maintenance window ${describeWindow(open, timezone)} (until ${windowCloses(open, now, timezone).toISOString()})`,
      opens_at: null,
    };
  const next = nextOpening(windows, now, timezone);
  return {
    name: "window",
    open: false,
    reason: next
      ? `outside the maintenance windows; the next, ${describeWindow(next.window, timezone)}, opens at ${next.at.toISOString()}`
      : "outside the maintenance windows, and none opens within two weeks",
    opens_at: next ? next.at.toISOString() : null,
  };
}

/** Pipeline runs in the 24 hours before `now`, oldest first. */
export function recentUpdates(state: State, now: Date): string[] {
  return state.update_times
    .filter((at) => now.getTime() - Date.parse(at) < DAY_MS && Date.parse(at) <= now.getTime())
    .sort();
}

export function budgetGate(config: Config, state: State, now: Date): GateVerdict {
  const limit = config.limits.max_updates_per_day;
  const recent = recentUpdates(state, now);
  if (recent.length < limit)
    return {
      name: "budget",
      open: true,
      reason: `${recent.length} of ${limit} updates used in the last 24 h`,
      opens_at: null,
    };
  const next = new Date(Date.parse(recent[recent.length - limit] as string) + DAY_MS);
  return {
    name: "budget",
    open: false,
    reason: `update budget used: ${recent.length} updates in the last 24 h (limits.max_updates_per_day = ${limit}); the next is allowed at ${next.toISOString()}`,
    opens_at: next.toISOString(),
  };
}

/** Every gate, in the order they are told: the release's age, the window, the budget. */
export function evaluateGates(
  config: Config,
  state: State,
  target: Release,
  now: Date,
): GateVerdict[] {
  return [
    minAgeGate(config, state, target, now),
    windowGate(config, now),
    budgetGate(config, state, now),
  ];
}

/** Records a pipeline run for the budget; keeps only the last 24 hours. */
export function noteUpdate(state: State, now: Date): void {
  state.update_times = [...recentUpdates(state, now), now.toISOString()];
}

/** Takes back the update noteUpdate counted at `at` (one stopped before anything live changed). */
export function forgetUpdate(state: State, at: Date): void {
  const stamp = at.toISOString();
  const index = state.update_times.lastIndexOf(stamp);
  if (index >= 0) state.update_times.splice(index, 1);
}

/**
 * The gate that holds back an update the decision wants, or undefined when
 * none does (or the decision is not an update). `update`, `check` and `plan`
 * all ask this, so they give the same answer and the same words.
 */
export function closedGate(
  config: Config,
  state: State,
  decision: { kind: string; target: Release },
  now: Date,
): GateVerdict | undefined {
  if (decision.kind !== "update") return undefined;
  return evaluateGates(config, state, decision.target, now).find((gate) => !gate.open);
}

/** The decision's reason, with the gate that makes it wait. */
export function waitReason(decisionReason: string, gate: GateVerdict): string {
  return `${decisionReason}; it waits: ${gate.reason}`;
}
