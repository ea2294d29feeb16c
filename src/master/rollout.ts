/**
 * `rollout`: moves a release's rollout percent, but up only while the hosts
 * that tried it stay healthy (issue 18). The gate reads the store; the
 * change goes through publish's own code (verify the feed first, check the
 * record, bump the serial, sign). Going down (`--halt`, or a lower
 * percent) is never gated: stopping a bad release must always work.
 */
import { UpdaterError } from "../errors.js";
import type { Manifest, Release } from "../feed/manifest.js";
import { setRolloutPercent } from "../feed/publish.js";
import type { PublicKey } from "../signing/minisign.js";
import { figuresOf, type ReleaseFigures } from "./fleet/summary.js";
import { percent } from "./fleet/text.js";
import type { Database } from "./store/database.js";

export const DEFAULT_STEPS = [10, 25, 50, 100];

export interface RolloutRequest {
  feedDir: string;
  keyFile: string;
  version: string;
  /** A percent, "next" (the next of `steps` above the current one), or "halt" (0). */
  to: number | "next" | "halt";
  steps: number[];
  /** A share, 0..1. */
  maxFailure: number;
  minHosts: number;
  /** "next" only: the manifest must be at least this old (the last step had time to show). */
  minWaitS: number;
  expiresInS: number;
  trustedKeys: readonly PublicKey[];
  signedElsewhere: boolean;
  now: Date;
}

export interface RolloutOutcome {
  version: string;
  sha: string;
  from_percent: number;
  to_percent: number;
  /** false when the release was already there (nothing signed). */
  changed: boolean;
  serial: number | null;
  figures: ReleaseFigures;
  /** Why nothing changed, when nothing did. */
  note: string | null;
}

function refuse(message: string): UpdaterError {
  return new UpdaterError("E_ROLLOUT", `rollout: ${message}`);
}

export function describeFigures(f: ReleaseFigures): string {
  return `${f.attempts} host(s) tried it: ${f.updated} updated, ${f.rolled_back} rolled back, ${f.rollback_failed} rollback failed, ${f.failed} failed (${f.skipped} skipped)`;
}

/** The gate alone: why `release` may not go up, or null when it may. One truth for `rollout` and its tests. */
export function gateRefusal(
  figures: ReleaseFigures,
  maxFailure: number,
  minHosts: number,
): string | null {
  if (figures.attempts < minHosts)
    return `${describeFigures(figures)}; --min-hosts needs ${minHosts} attempts`;
  const rate = figures.failure_rate ?? 0;
  if (rate > maxFailure)
    return `failure rate ${percent(rate)} is above --max-failure ${percent(maxFailure)}: ${describeFigures(figures)}`;
  return null;
}

export async function rollout(db: Database, request: RolloutRequest): Promise<RolloutOutcome> {
  let figures: ReleaseFigures | undefined;
  let note: string | null = null;
  let from = 0;
  // Decided on the manifest that gets signed: read once, verified, checked against the record.
  const decide = async (signed: Manifest, release: Release): Promise<number | null> => {
    from = release.rollout.percent;
    figures = await figuresOf(db, release.sha, release.version);
    let target: number;
    if (request.to === "halt") target = 0;
    else if (request.to === "next") {
      const next = request.steps.find((step) => step > from);
      if (next === undefined) {
        note = `already at ${from}%, the last step`;
        return null;
      }
      const age = (request.now.getTime() - Date.parse(signed.issued_at)) / 1000;
      if (age < request.minWaitS) {
        note = `the manifest was signed ${Math.round(age)} s ago (serial ${signed.serial}); --min-wait is ${request.minWaitS} s before the next step`;
        return null;
      }
      target = next;
    } else target = request.to;
    if (target === from) {
      note = `already at ${from}%`;
      return null;
    }
    if (target > from) {
      const why = gateRefusal(figures, request.maxFailure, request.minHosts);
      if (why) throw refuse(`${release.version} stays at ${from}%, not ${target}%: ${why}`);
    }
    return target;
  };
  const result = await setRolloutPercent({
    feedDir: request.feedDir,
    keyFile: request.keyFile,
    version: request.version,
    expiresInS: request.expiresInS,
    now: request.now,
    trustedKeys: request.trustedKeys,
    signedElsewhere: request.signedElsewhere,
    decide,
  });
  return {
    version: result.release.version,
    sha: result.release.sha,
    from_percent: from,
    to_percent: result.release.rollout.percent,
    changed: result.changed,
    serial: result.changed ? result.manifest.serial : null,
    figures: figures as ReleaseFigures,
    note: result.changed ? null : note,
  };
}
