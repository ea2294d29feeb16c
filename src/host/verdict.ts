/**
 * One verdict for "what will this host do with this manifest now?", shared
 * by `check`, `plan`, `update` and the updater's own cycle (issue 16), so
 * they can never say different things about the same situation.
 *
 * A pure function of the verified manifest, the state, the active release,
 * the configuration, the clock and --force. The ladder, in order:
 * the selection (pin, rollout, failed marks, min_updater, pin.hold), then the
 * operator's gates (aging, window, budget), then backoff after unmarked
 * failures. --force passes the gates, the backoff and the marks, never
 * min_updater.
 *
 * What each command says for each verdict is one table, SAYS.
 */
import type { Config } from "../config/types.js";
import type { Manifest, Release } from "../feed/manifest.js";
import { selectRelease } from "../feed/select.js";
import { backoffReason } from "../state/failures.js";
import type { State } from "../state/store.js";
import { closedGate, type GateVerdict, waitReason } from "./gates.js";

export type VerdictWord = "up_to_date" | "update" | "held" | "skipped" | "waiting-for-updater";

/** What stands between the target and the pipeline, when something does. */
export type Obstacle =
  | { kind: "active" }
  | { kind: "rollout" }
  | { kind: "pin_hold" }
  | { kind: "gate"; gate: GateVerdict }
  | { kind: "backoff" }
  | { kind: "marked" }
  | { kind: "min_updater" }
  | { kind: "not_newer" };

export interface Verdict {
  word: VerdictWord;
  target: Release;
  /** One line, the same in every command's output. */
  reason: string;
  by: Obstacle | null;
  /** When what holds it lets it through (a gate), or null. */
  opens_at: string | null;
}

export interface VerdictInput {
  config: Config;
  state: State;
  manifest: Manifest;
  activeSha: string | null;
  now: Date;
  force: boolean;
  /** The running updater, for `min_updater`; absent for the updater's own feed. */
  updater?: { version: string; selfUpdate: boolean };
  /** The updater's own feed: no operator gates, and only a version newer than `running`. */
  self?: { running: string; newer: (candidate: string) => boolean };
}

/** Shas marked failed that may not be retried yet at `now`. */
export function blockedShas(state: State, retryAfterMs: number | null, now: Date): Set<string> {
  const blocked = new Set<string>();
  for (const [sha, mark] of Object.entries(state.failed_releases)) {
    const due = retryAfterMs !== null && Date.parse(mark.marked_at) + retryAfterMs <= now.getTime();
    if (!due) blocked.add(sha);
  }
  return blocked;
}

const BY_CAUSE = {
  active: { word: "up_to_date", by: { kind: "active" } },
  rollout: { word: "up_to_date", by: { kind: "rollout" } },
  hold: { word: "held", by: { kind: "pin_hold" } },
  marked: { word: "skipped", by: { kind: "marked" } },
  min_updater: { word: "waiting-for-updater", by: { kind: "min_updater" } },
} as const satisfies Record<string, { word: VerdictWord; by: Obstacle }>;

export function verdictOf(input: VerdictInput): Verdict {
  const { config, state, now, force } = input;
  const decision = selectRelease({
    manifest: input.manifest,
    pin: config.pin,
    hostId: config.host_id,
    activeSha: input.activeSha,
    blockedShas: blockedShas(state, config.retry.failed_release_ms, now),
    force,
    ...(input.updater ? { updater: input.updater } : {}),
  });
  const { target } = decision;
  const verdict = (word: VerdictWord, reason: string, by: Obstacle | null): Verdict => ({
    word,
    target,
    reason,
    by,
    opens_at: by?.kind === "gate" ? by.gate.opens_at : null,
  });
  if (decision.cause !== "target") {
    const { word, by } = BY_CAUSE[decision.cause];
    return verdict(word, decision.reason, by);
  }
  if (input.self && !input.self.newer(target.version))
    // Never a downgrade on its own: an operator does that by hand (docs/design.md).
    return verdict(
      "up_to_date",
      `the feed's ${target.version} is not newer than the running ${input.self.running}`,
      { kind: "not_newer" },
    );
  if (!force) {
    const gate = input.self ? undefined : closedGate(config, state, decision, now);
    if (gate) return verdict("held", waitReason(decision.reason, gate), { kind: "gate", gate });
    const backoff = backoffReason(state, target.sha, now);
    if (backoff) return verdict("skipped", backoff, { kind: "backoff" });
  }
  return verdict("update", decision.reason, null);
}

/**
 * The one table from a verdict to each command's word (SPEC section 7):
 * `check` says update_available, and exits 100, only when `update` would
 * start the pipeline now. A release that waits for a newer updater is
 * `skipped` to every command, with the reason saying so. `self` is the
 * updater's own cycle (self-update/cycle.ts).
 */
export const SAYS = {
  up_to_date: { check: "up_to_date", update: "up_to_date", plan: "up_to_date", self: "up_to_date" },
  update: { check: "update_available", update: "pipeline", plan: "update", self: "installed" },
  held: { check: "held", update: "held", plan: "held", self: "skipped" },
  skipped: { check: "skipped", update: "skipped", plan: "skipped", self: "skipped" },
  "waiting-for-updater": { check: "skipped", update: "skipped", plan: "skipped", self: "skipped" },
} as const satisfies Record<
  VerdictWord,
  { check: string; update: string; plan: string; self: string }
>;
