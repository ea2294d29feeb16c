/**
 * Whether this host accepts a manifest: signature first (nothing unsigned is
 * parsed), then the document rules, then the rules that depend on this host:
 * channel, expiry (freeze attacks) and serial (replay and rollback attacks).
 */
import { createHash } from "node:crypto";
import { UpdaterError } from "../errors.js";
import { type PublicKey, verifySignature } from "../signing/minisign.js";
import { type Manifest, parseManifest } from "./manifest.js";

export interface AcceptInput {
  bytes: Buffer;
  signature: string;
  trustedKeys: readonly PublicKey[];
  channel: string;
  now: Date;
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

export function acceptManifest(input: AcceptInput): Accepted {
  const { key } = verifySignature(input.bytes, input.signature, input.trustedKeys);
  const manifest = parseManifest(input.bytes);
  checkChannelAndExpiry(manifest, input.channel, input.now);
  const sha256 = sha256Hex(input.bytes);
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
  return { manifest, sha256, keyId: key.id };
}

/** Rules that must hold on every use, also of a stored manifest after a 304. */
export function checkChannelAndExpiry(manifest: Manifest, channel: string, now: Date): void {
  if (manifest.channel !== channel) {
    throw new UpdaterError(
      "E_MANIFEST",
      `manifest: channel: expected ${JSON.stringify(channel)} (feed.channel), found ${JSON.stringify(manifest.channel)}`,
    );
  }
  if (Date.parse(manifest.expires) <= now.getTime()) {
    throw new UpdaterError(
      "E_EXPIRED",
      `manifest: expired at ${manifest.expires} (now ${now.toISOString()})`,
    );
  }
}
