/**
 * minisign secret keys: generation, parsing, signing.
 *
 * File layout (minisign.key, unencrypted as `minisign -G -W` writes it):
 *   base64("Ed" || kdf "\0\0" || "B2" || salt[32] || opslimit[8] || memlimit[8]
 *          || key_id[8] || seed[32] || pk[32] || checksum[32])
 * checksum = BLAKE2b-256("Ed" || key_id || seed || pk). node:crypto has only
 * BLAKE2b-512 and its digest is not a prefix of BLAKE2b-256, hence
 * @noble/hashes for this one digest. Password-encrypted keys (kdf "Sc") are
 * refused with a pointer to `minisign -G -W`: the agent signs from automation.
 */
import {
  createPrivateKey,
  sign as edSign,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { blake2b } from "@noble/hashes/blake2b";
import { UpdaterError } from "../errors.js";
import { blake2b512, decodeBase64, displayKeyId, type PublicKey } from "./minisign.js";

export interface SecretKey {
  keyId: Buffer;
  id: string;
  seed: Buffer;
  publicKey: Buffer;
  key: KeyObject;
}

const FILE_BYTES = 158;

function checksum(keyId: Buffer, seed: Buffer, publicKey: Buffer): Buffer {
  return Buffer.from(
    blake2b(Buffer.concat([Buffer.from("Ed"), keyId, seed, publicKey]), { dkLen: 32 }),
  );
}

function privateKeyObject(seed: Buffer, publicKey: Buffer): KeyObject {
  return createPrivateKey({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      d: seed.toString("base64url"),
      x: publicKey.toString("base64url"),
    },
    format: "jwk",
  });
}

export function generateSecretKey(): SecretKey {
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d as string, "base64url");
  const publicKey = Buffer.from(jwk.x as string, "base64url");
  const keyId = randomBytes(8);
  return {
    keyId,
    id: displayKeyId(keyId),
    seed,
    publicKey,
    key: privateKeyObject(seed, publicKey),
  };
}

export function formatSecretKey(sk: SecretKey): string {
  const body = Buffer.concat([
    Buffer.from("Ed\0\0B2", "latin1"),
    Buffer.alloc(48), // salt, opslimit, memlimit: unused without a KDF
    sk.keyId,
    sk.seed,
    sk.publicKey,
    checksum(sk.keyId, sk.seed, sk.publicKey),
  ]);
  return `untrusted comment: minisign secret key ${sk.id} (unencrypted)\n${body.toString("base64")}\n`;
}

/** The public half, as `feed.trusted_keys` holds it: what `publish` verifies the feed with. */
export function publicKeyOf(sk: SecretKey): PublicKey {
  return { keyId: sk.keyId, id: sk.id, raw: sk.publicKey };
}

export function formatPublicKey(sk: SecretKey): string {
  const body = Buffer.concat([Buffer.from("Ed"), sk.keyId, sk.publicKey]);
  return `untrusted comment: minisign public key ${sk.id}\n${body.toString("base64")}\n`;
}

export function parseSecretKey(text: string, source: string): SecretKey {
  const line = text.split(/\r?\n/)[1];
  if (line === undefined) throw new UpdaterError("E_KEY", `${source}: expected 2 lines, found 1`);
  const raw = decodeBase64(line, FILE_BYTES, `${source}: secret key`);
  if (raw.subarray(0, 2).toString("latin1") !== "Ed") {
    throw new UpdaterError("E_KEY", `${source}: not an Ed25519 minisign secret key`);
  }
  if (raw.subarray(2, 4).toString("latin1") !== "\0\0") {
    throw new UpdaterError(
      "E_KEY",
      `${source}: the key is password-encrypted; make an unencrypted one with 'decnet-updater keygen' or 'minisign -G -W'`,
    );
  }
  const keyId = raw.subarray(54, 62);
  const seed = raw.subarray(62, 94);
  const publicKey = raw.subarray(94, 126);
  const stored = raw.subarray(126, 158);
  // minisign 0.11 leaves the checksum of unencrypted keys zeroed; newer ones fill it in.
  if (!stored.equals(Buffer.alloc(32)) && !stored.equals(checksum(keyId, seed, publicKey))) {
    throw new UpdaterError("E_KEY", `${source}: checksum mismatch, the key file is damaged`);
  }
  const key = privateKeyObject(seed, publicKey);
  if (key.export({ format: "jwk" }).x !== publicKey.toString("base64url")) {
    throw new UpdaterError("E_KEY", `${source}: the public half does not match the seed`);
  }
  return { keyId, id: displayKeyId(keyId), seed, publicKey, key };
}

/** A prehashed ("ED") minisign signature file for `data`, as `minisign -S` writes it. */
export function signData(sk: SecretKey, data: Buffer, trustedComment: string): string {
  if (/[\r\n]/.test(trustedComment)) {
    throw new UpdaterError("E_USAGE", "a trusted comment must be one line");
  }
  const signature = edSign(null, blake2b512(data), sk.key);
  const globalSignature = edSign(
    null,
    Buffer.concat([signature, Buffer.from(trustedComment)]),
    sk.key,
  );
  const sigLine = Buffer.concat([Buffer.from("ED"), sk.keyId, signature]).toString("base64");
  return [
    "untrusted comment: signature from decnet-updater secret key",
    sigLine,
    `trusted comment: ${trustedComment}`,
    globalSignature.toString("base64"),
    "",
  ].join("\n");
}
