/**
 * Which release this host should run: a pure function of the manifest, the
 * pin, the host's identity and what is installed. No I/O, no clock.
 *
 * Order (SPEC section 4): pin.sha > pin.version > latest > highest version;
 * then rollout (unpinned hosts only), the failed-release rule, a
 * `min_updater` above the running updater (SPEC section 12), and hold.
 */
import { createHash } from "node:crypto";
import { UpdaterError } from "../errors.js";
import type { Manifest, Release } from "./manifest.js";
import { semver } from "./semver.js";

export interface SelectInput {
  manifest: Manifest;
  pin: { version?: string | undefined; sha?: string | undefined; hold: boolean };
  hostId: string;
  /** The sha of releases/active, or null when unknown or nothing is installed. */
  activeSha: string | null;
  /** Shas this host may not try now (marked failed and not yet due for a retry). */
  blockedShas: ReadonlySet<string>;
  /** --force: install even when the sha matches, ignore failed marks (not min_updater). */
  force: boolean;
  /** The running updater, for releases that carry `min_updater`; absent for the updater's own feed. */
  updater?: { version: string; selfUpdate: boolean };
}

/** Which rule decided: the target is active, outside this host's rollout bucket, marked failed, needs a newer updater, held by pin.hold, or simply the target. */
export type DecisionCause = "active" | "rollout" | "marked" | "min_updater" | "hold" | "target";

export interface Decision {
  kind: "update" | "up_to_date" | "held" | "skipped";
  target: Release;
  reason: string;
  cause: DecisionCause;
}

/** Rollout bucket 0..99: first 4 bytes of sha256(host_id + ":" + sha), big-endian, mod 100. */
export function rolloutBucket(hostId: string, sha: string): number {
  return createHash("sha256").update(`${hostId}:${sha}`).digest().readUInt32BE(0) % 100;
}

export function chooseTarget(manifest: Manifest, pin: SelectInput["pin"]): Release {
  const { releases } = manifest;
  if (pin.sha !== undefined) {
    const match = releases.find((r) => r.sha === pin.sha);
    if (!match) {
      throw new UpdaterError(
        "E_PIN",
        `pin.sha ${pin.sha} is not in manifest serial ${manifest.serial}`,
      );
    }
    return match;
  }
  if (pin.version !== undefined) {
    const best = semver.maxSatisfying(
      releases.map((r) => r.version),
      pin.version,
    );
    if (best === null) {
      const known = releases.map((r) => r.version).join(", ") || "none";
      throw new UpdaterError(
        "E_PIN",
        `pin.version ${JSON.stringify(pin.version)} matches no release in manifest serial ${manifest.serial} (versions: ${known})`,
      );
    }
    return releases.find((r) => r.version === best) as Release;
  }
  const latest = manifest.latest ?? semver.rsort(releases.map((r) => r.version))[0];
  const release = releases.find((r) => r.version === latest);
  if (!release)
    throw new UpdaterError("E_MANIFEST", `manifest serial ${manifest.serial} lists no releases`);
  return release;
}

export function selectRelease(input: SelectInput): Decision {
  const decision = selectIgnoringHold(input);
  if (!input.pin.hold) return decision;
  const otherwise =
    decision.kind === "update" ? `would update: ${decision.reason}` : decision.reason;
  return {
    kind: "held",
    target: decision.target,
    reason: `pin.hold is set (${otherwise})`,
    cause: "hold",
  };
}

function selectIgnoringHold(input: SelectInput): Decision {
  const target = chooseTarget(input.manifest, input.pin);
  const pinned = input.pin.sha !== undefined || input.pin.version !== undefined;
  const label = `${target.version} (${target.sha.slice(0, 12)})`;

  if (input.activeSha === target.sha && !input.force) {
    return { kind: "up_to_date", target, reason: `${label} is active`, cause: "active" };
  }
  // A host with nothing installed has no release to keep, so rollout does not hold it back.
  if (!pinned && input.activeSha !== null && !input.force) {
    const bucket = rolloutBucket(input.hostId, target.sha);
    if (bucket >= target.rollout.percent) {
      return {
        kind: "up_to_date",
        target,
        reason: `${label} is rolling out to ${target.rollout.percent}% and this host's bucket is ${bucket}`,
        cause: "rollout",
      };
    }
  }
  if (input.blockedShas.has(target.sha) && !input.force) {
    return {
      kind: "skipped",
      target,
      reason: `${label} is marked failed on this host`,
      cause: "marked",
    };
  }
  const needs = target.min_updater;
  if (input.updater && needs !== undefined && semver.gt(needs, input.updater.version)) {
    // Installing it with an updater that is too old could half-work; it waits, even with --force.
    const then = input.updater.selfUpdate
      ? "the updater updates itself first"
      : "it waits: self_update is disabled, upgrade decnet-updater on this host";
    return {
      kind: "skipped",
      target,
      reason: `${label} needs decnet-updater >= ${needs} and this is ${input.updater.version}; ${then}`,
      cause: "min_updater",
    };
  }
  return { kind: "update", target, reason: `${label} is the target`, cause: "target" };
}
