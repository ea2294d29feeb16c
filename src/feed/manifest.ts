/**
 * The manifest's shape and the rules that do not depend on this host's state
 * (SPEC section 4). Called only on bytes whose signature has verified: an
 * unsigned document is never parsed.
 */

import type { Component } from "../config/types.js";
import { UpdaterError } from "../errors.js";
import { semver } from "./semver.js";

export interface Release {
  version: string;
  sha: string;
  /** Relative to the manifest's URL. */
  url: string;
  sha256: string;
  size: number;
  published_at?: string;
  rollout: { percent: number };
  /** The updater version this release needs (self-update, SPEC section 12). */
  min_updater?: string;
  /** Bypasses pin.min_age (issue 9): a fix that must not wait. */
  critical?: boolean;
}

/** What a feed is for (SPEC section 14, §4): hosts refuse a manifest for another component. */
export const COMPONENTS: readonly Component[] = ["decnet", "decnet-updater"];
export type { Component };

/**
 * The highest serial a manifest may carry: one below Number.MAX_SAFE_INTEGER,
 * so `publish` can always add 1 exactly. A forged serial at the edge of the
 * safe integers would otherwise make every later publish fail for good.
 */
export const MAX_SERIAL = Number.MAX_SAFE_INTEGER - 1;

export interface Manifest {
  schema: 1;
  /** Absent in manifests published before the field existed (docs/protocol.md, "Component"). */
  component?: Component;
  channel: string;
  serial: number;
  issued_at: string;
  expires: string;
  latest?: string;
  releases: Release[];
}

const SHA256 = /^[0-9a-f]{64}$/;
const GIT_SHA = /^[0-9a-f]{7,64}$/;

function refuse(where: string, expected: string, found: unknown): UpdaterError {
  const shown =
    typeof found === "string" ? JSON.stringify(found.slice(0, 80)) : JSON.stringify(found);
  return new UpdaterError(
    "E_MANIFEST",
    `manifest: ${where}: expected ${expected}, found ${shown ?? "nothing"}`,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isTimestamp(value: unknown): value is string {
  return (
    typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value) && !Number.isNaN(Date.parse(value))
  );
}

/**
 * A relative path below the manifest: no scheme, no leading "/", no "..", no
 * "\\", no white space or control character anywhere (the URL parser strips
 * leading blanks, so " http:host/x" would name another origin).
 */
export function isSafeRelativeUrl(value: unknown): value is string {
  if (typeof value !== "string" || value === "" || value.length > 1024) return false;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(value) || value.startsWith("/") || value.includes("\\"))
    return false;
  if (hasControlOrQueryCharacter(value)) return false;
  return value.split("/").every((part) => part !== ".." && part !== "." && part !== "");
}

function hasControlOrQueryCharacter(value: string): boolean {
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code <= 0x20 || code === 0x7f || char === "?" || char === "#" || char === "%") return true;
    if (/\s/u.test(char)) return true;
  }
  return false;
}

export function parseManifest(bytes: Buffer): Manifest {
  let doc: unknown;
  try {
    const text = bytes.toString("utf8");
    checkNesting(text);
    doc = JSON.parse(text);
  } catch (error) {
    if (error instanceof UpdaterError) throw error;
    throw new UpdaterError("E_MANIFEST", `manifest: not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(doc))
    throw refuse("document", "a JSON object", Array.isArray(doc) ? "an array" : doc);
  if (doc.schema !== 1) throw refuse("schema", "1", doc.schema);
  if (doc.component !== undefined && !COMPONENTS.includes(doc.component as Component))
    throw refuse("component", `one of ${COMPONENTS.join(", ")}`, doc.component);
  if (typeof doc.channel !== "string" || doc.channel === "")
    throw refuse("channel", "a string", doc.channel);
  if (!Number.isSafeInteger(doc.serial) || (doc.serial as number) < 0) {
    throw refuse("serial", `an integer from 0 to ${MAX_SERIAL}`, doc.serial);
  }
  if ((doc.serial as number) > MAX_SERIAL)
    throw refuse(
      "serial",
      `an integer from 0 to ${MAX_SERIAL} (so it can be incremented)`,
      doc.serial,
    );
  if (!isTimestamp(doc.issued_at)) throw refuse("issued_at", "an ISO 8601 time", doc.issued_at);
  if (!isTimestamp(doc.expires)) throw refuse("expires", "an ISO 8601 time", doc.expires);
  if (!Array.isArray(doc.releases)) throw refuse("releases", "a list", doc.releases);
  const releases = doc.releases.map((entry, index) => parseRelease(entry, `releases[${index}]`));
  rejectDuplicates(releases);
  if (doc.latest !== undefined) {
    if (typeof doc.latest !== "string" || !releases.some((r) => r.version === doc.latest)) {
      throw refuse("latest", "the version of one of the releases", doc.latest);
    }
  }
  return {
    schema: 1,
    ...(doc.component !== undefined ? { component: doc.component as Component } : {}),
    channel: doc.channel,
    serial: doc.serial as number,
    issued_at: doc.issued_at,
    expires: doc.expires,
    ...(doc.latest !== undefined ? { latest: doc.latest as string } : {}),
    releases,
  };
}

function parseRelease(entry: unknown, at: string): Release {
  if (!isObject(entry)) throw refuse(at, "an object", entry);
  const { version, sha, url, sha256, size, published_at, rollout, min_updater, critical } = entry;
  // semver.valid() would also accept "v1.2.3" and " 1.2.3"; the manifest must be canonical.
  if (typeof version !== "string" || semver.valid(version) !== version) {
    throw refuse(`${at}.version`, "a semver version like 1.2.3", version);
  }
  if (typeof sha !== "string" || !GIT_SHA.test(sha))
    throw refuse(`${at}.sha`, "a lowercase hex git sha", sha);
  if (!isSafeRelativeUrl(url))
    throw refuse(
      `${at}.url`,
      "a relative path without '..', a scheme, white space or a control character",
      url,
    );
  if (typeof sha256 !== "string" || !SHA256.test(sha256)) {
    throw refuse(`${at}.sha256`, "64 lowercase hex characters", sha256);
  }
  if (!Number.isSafeInteger(size) || (size as number) < 0)
    throw refuse(`${at}.size`, "an integer >= 0", size);
  if (published_at !== undefined && !isTimestamp(published_at)) {
    throw refuse(`${at}.published_at`, "an ISO 8601 time", published_at);
  }
  let percent = 100;
  if (rollout !== undefined) {
    if (!isObject(rollout)) throw refuse(`${at}.rollout`, "an object", rollout);
    if (rollout.percent !== undefined) {
      if (
        !Number.isInteger(rollout.percent) ||
        (rollout.percent as number) < 0 ||
        (rollout.percent as number) > 100
      ) {
        throw refuse(`${at}.rollout.percent`, "an integer from 0 to 100", rollout.percent);
      }
      percent = rollout.percent as number;
    }
  }
  if (
    min_updater !== undefined &&
    (typeof min_updater !== "string" || semver.valid(min_updater) === null)
  ) {
    throw refuse(`${at}.min_updater`, "a semver version", min_updater);
  }
  if (critical !== undefined && typeof critical !== "boolean") {
    throw refuse(`${at}.critical`, "true or false", critical);
  }
  return {
    version,
    sha,
    url,
    sha256,
    size: size as number,
    ...(published_at !== undefined ? { published_at: published_at as string } : {}),
    rollout: { percent },
    ...(min_updater !== undefined ? { min_updater: min_updater as string } : {}),
    ...(critical === true ? { critical } : {}),
  };
}

function rejectDuplicates(releases: Release[]): void {
  for (const field of ["version", "sha"] as const) {
    const seen = new Set<string>();
    for (const release of releases) {
      if (seen.has(release[field])) {
        throw new UpdaterError(
          "E_MANIFEST",
          `manifest: two releases have the same ${field} ${release[field]}`,
        );
      }
      seen.add(release[field]);
    }
  }
}

/** A manifest is four levels deep (document, releases, release, rollout); room for additions. */
export const MAX_MANIFEST_DEPTH = 16;

/**
 * Refuses JSON nested deeper than MAX_MANIFEST_DEPTH before it is parsed.
 * V8's JSON.parse copes with deep nesting, but whatever walks the document
 * next (a validator, a logger, a future tool) may recurse; a signed feed has
 * no reason to be deep. Brackets inside strings do not count.
 */
function checkNesting(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) {
      depth++;
      if (depth > MAX_MANIFEST_DEPTH)
        throw new UpdaterError(
          "E_MANIFEST",
          `manifest: JSON nested deeper than ${MAX_MANIFEST_DEPTH} levels (at character ${i})`,
        );
    } else if (char === 0x7d || char === 0x5d) depth--;
  }
}
