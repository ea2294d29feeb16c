/**
 * Whether this host accepts a manifest: signature first (nothing unsigned is
 * parsed), then the document rules, then the rules that depend on this host:
 * component and channel (a manifest is for one feed), release URLs (they stay
 * on the feed), expiry (freeze attacks) and serial (replay and rollback).
 *
 * `verifyManifest` is every rule that depends on the bytes and this host's
 * configuration, and runs on every use of a manifest: a fresh one, and the
 * stored one a 304 decides from, so a key removed from `feed.trusted_keys`
 * stops counting at the next cycle. `checkExpiry` is the one rule that
 * changes with time alone; it runs wherever a manifest is used.
 */
import { createHash } from "node:crypto";
import { UpdaterError } from "../errors.js";
import { type PublicKey, verifySignature } from "../signing/minisign.js";
import { type Component, type Manifest, parseManifest } from "./manifest.js";
import { releaseFileUrl } from "./urls.js";

/** What this host expects of a manifest, whatever its serial. */
export interface Expectations {
  trustedKeys: readonly PublicKey[];
  channel: string;
  /** The feed this manifest must be for: the app's ("decnet") or the updater's own. */
  component: Component;
  /**
   * False once this host accepted a manifest naming its component from this
   * feed: from then on an unnamed (older) manifest is refused, so a legacy
   * manifest of the other feed cannot be replayed here (docs/protocol.md).
   */
  unnamedAllowed: boolean;
  /** The feed's base URL: every release URL must resolve below it. */
  feedUrl: string;
}

export interface AcceptInput extends Expectations {
  now: Date;
  bytes: Buffer;
  signature: string;
  /** The highest serial this host accepted before, and the sha256 of that manifest. */
  highestSerial: number | null;
  acceptedSha256: string | null;
}

export interface Accepted {
  manifest: Manifest;
  sha256: string;
  keyId: string;
}

export function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Signature, document, component, channel and release URLs: every rule but expiry and serial. */
export function verifyManifest(bytes: Buffer, signature: string, expect: Expectations): Accepted {
  const { key } = verifySignature(bytes, signature, expect.trustedKeys);
  const manifest = parseManifest(bytes);
  checkComponent(manifest, expect);
  if (manifest.channel !== expect.channel) {
    throw new UpdaterError(
      "E_MANIFEST",
      `manifest: channel: expected ${JSON.stringify(expect.channel)} (feed.channel), found ${JSON.stringify(manifest.channel)}`,
    );
  }
  for (const [index, release] of manifest.releases.entries())
    releaseFileUrl(expect.feedUrl, release.url, `releases[${index}].url`);
  return { manifest, sha256: sha256Hex(bytes), keyId: key.id };
}

export function acceptManifest(input: AcceptInput): Accepted {
  const accepted = verifyManifest(input.bytes, input.signature, input);
  const { manifest, sha256 } = accepted;
  checkExpiry(manifest, input.now);
  if (input.highestSerial !== null) {
    if (manifest.serial < input.highestSerial) {
      throw new UpdaterError(
        "E_SERIAL",
        `manifest: serial ${manifest.serial} is below the highest accepted ${input.highestSerial} (replayed or rolled-back feed)`,
      );
    }
    if (
      manifest.serial === input.highestSerial &&
      input.acceptedSha256 !== null &&
      sha256 !== input.acceptedSha256
    ) {
      throw new UpdaterError(
        "E_SERIAL",
        `manifest: serial ${manifest.serial} was accepted before with other content (sha256 ${input.acceptedSha256.slice(0, 12)}..., found ${sha256.slice(0, 12)}...)`,
      );
    }
  }
  return accepted;
}

function checkComponent(manifest: Manifest, expect: Expectations): void {
  if (manifest.component === expect.component) return;
  if (manifest.component === undefined) {
    if (expect.unnamedAllowed) return;
    throw new UpdaterError(
      "E_MANIFEST",
      `manifest: component: expected ${JSON.stringify(expect.component)}, found nothing (this host accepted a manifest naming its component from this feed before; an unnamed one is refused)`,
    );
  }
  throw new UpdaterError(
    "E_MANIFEST",
    `manifest: component: expected ${JSON.stringify(expect.component)} (the feed at ${expect.feedUrl}), found ${JSON.stringify(manifest.component)}`,
  );
}

/** Freeze attacks: on every use, also of a stored manifest after a 304. */
export function checkExpiry(manifest: Manifest, now: Date): void {
  if (Date.parse(manifest.expires) <= now.getTime()) {
    throw new UpdaterError(
      "E_EXPIRED",
      `manifest: expired at ${manifest.expires} (now ${now.toISOString()})`,
    );
  }
}
