/**
 * minisign (jedisct1/minisign) public keys and signatures, verified with
 * node:crypto alone.
 *
 * Written by hand because no maintained npm package verifies minisign with
 * both algorithms and the global signature; the format is small and fixed:
 *
 *   public key:  base64("Ed" || key_id[8] || ed25519_pk[32])
 *   signature:   untrusted comment: ...
 *                base64(alg[2] || key_id[8] || ed25519_sig[64])
 *                trusted comment: ...
 *                base64(ed25519_sig over (sig[64] || trusted_comment))
 *
 * alg "Ed" (legacy) signs the file itself, "ED" signs BLAKE2b-512(file).
 * The global signature binds the trusted comment to the file's signature, so
 * a valid signature with an edited comment is refused too.
 */
import type { KeyObject } from "node:crypto"; // a type: erased, nothing is loaded
import { UpdaterError } from "../errors.js";

/**
 * node:crypto once a signature is checked or a digest taken, not when a key
 * is parsed: `status` validates the configuration, trusted keys included, and
 * loading node:crypto with a KeyObject per key cost it about 5 ms of CPU
 * (docs/performance.md, "Round three").
 */
function crypto(): typeof import("node:crypto") {
  return process.getBuiltinModule("node:crypto");
}

export interface PublicKey {
  /** The 8 key-id bytes as they appear in signatures. */
  keyId: Buffer;
  /** minisign's display form: the id as a little-endian u64 in upper hex. */
  id: string;
  /** The 32 bytes of the Ed25519 public key. */
  raw: Buffer;
}

export interface Signature {
  algorithm: "Ed" | "ED";
  keyId: Buffer;
  signature: Buffer;
  trustedComment: string;
  globalSignature: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const UNTRUSTED = "untrusted comment: ";
const TRUSTED = "trusted comment: ";

export function displayKeyId(keyId: Buffer): string {
  return Buffer.from(keyId).reverse().toString("hex").toUpperCase();
}

/** Strict base64 of an exact length: Buffer.from() alone skips bad characters. */
export function decodeBase64(text: string, length: number, what: string): Buffer {
  const trimmed = text.trim();
  const bytes = BASE64.test(trimmed) ? Buffer.from(trimmed, "base64") : undefined;
  if (!bytes || bytes.length !== length) {
    throw new UpdaterError(
      "E_KEY",
      `${what}: expected base64 of ${length} bytes, found ${bytes ? `${bytes.length} bytes` : "invalid base64"}`,
    );
  }
  return bytes;
}

/** Accepts the base64 line alone or a whole `.pub` file with its comment line. */
export function parsePublicKey(text: string, source: string): PublicKey {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const keyLine = lines.find((line) => !line.startsWith(UNTRUSTED));
  if (keyLine === undefined) throw new UpdaterError("E_KEY", `${source}: no public key line found`);
  const raw = decodeBase64(keyLine, 42, `${source}: public key`);
  if (raw.subarray(0, 2).toString("latin1") !== "Ed") {
    throw new UpdaterError("E_KEY", `${source}: public key algorithm is not Ed25519 ("Ed")`);
  }
  const keyId = raw.subarray(2, 10);
  return { keyId, id: displayKeyId(keyId), raw: raw.subarray(10) };
}

/** The base64 line of a minisign public key (what `feed.trusted_keys` may hold instead of a path). */
export const PUBLIC_KEY_LINE = /^RW[A-Za-z0-9+/]{54}$/;

/** A public key given as its base64 line or as the path of a `.pub` file. */
export async function readPublicKey(lineOrPath: string): Promise<PublicKey> {
  if (PUBLIC_KEY_LINE.test(lineOrPath)) return parsePublicKey(lineOrPath, "public key");
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(lineOrPath, "utf8");
  } catch (error) {
    throw new UpdaterError(
      "E_KEY",
      `${lineOrPath}: cannot read the public key (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  return parsePublicKey(text, lineOrPath);
}

export function parseSignature(text: string): Signature {
  const lines = text.split(/\r?\n/);
  const [untrusted, sigLine, trusted, globalLine] = lines;
  const fail = (why: string) => new UpdaterError("E_SIGNATURE", `signature file: ${why}`);
  if (!untrusted?.startsWith(UNTRUSTED)) throw fail("line 1 is not an untrusted comment");
  if (sigLine === undefined) throw fail("line 2 (the signature) is missing");
  if (!trusted?.startsWith(TRUSTED)) throw fail("line 3 is not a trusted comment");
  if (globalLine === undefined) throw fail("line 4 (the global signature) is missing");
  if (lines.slice(4).some((line) => line.trim() !== "")) throw fail("unexpected text after line 4");
  let raw: Buffer;
  let globalSignature: Buffer;
  try {
    raw = decodeBase64(sigLine, 74, "signature");
    globalSignature = decodeBase64(globalLine, 64, "global signature");
  } catch (error) {
    throw fail((error as Error).message);
  }
  const algorithm = raw.subarray(0, 2).toString("latin1");
  if (algorithm !== "Ed" && algorithm !== "ED") {
    throw fail(`unknown algorithm ${JSON.stringify(algorithm)}, expected "Ed" or "ED"`);
  }
  return {
    algorithm,
    keyId: raw.subarray(2, 10),
    signature: raw.subarray(10),
    trustedComment: trusted.slice(TRUSTED.length),
    globalSignature,
  };
}

export function blake2b512(data: Buffer): Buffer {
  return crypto().createHash("blake2b512").update(data).digest();
}

/** node:crypto's key for 32 raw Ed25519 public-key bytes. */
function edPublicKey(raw: Buffer): KeyObject {
  return crypto().createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
    format: "jwk",
  });
}

/**
 * Verifies `data` against a signature file's text with one of `keys`.
 * Returns the key and the trusted comment; throws E_SIGNATURE otherwise.
 */
export function verifySignature(
  data: Buffer,
  signatureText: string,
  keys: readonly PublicKey[],
): { key: PublicKey; trustedComment: string } {
  const sig = parseSignature(signatureText);
  const key = keys.find((candidate) => candidate.keyId.equals(sig.keyId));
  if (!key) {
    const known = keys.map((k) => k.id).join(", ");
    throw new UpdaterError(
      "E_SIGNATURE",
      `signature key id ${displayKeyId(sig.keyId)} is not among the trusted keys (${known})`,
    );
  }
  const message = sig.algorithm === "ED" ? blake2b512(data) : data;
  const keyObject = edPublicKey(key.raw);
  const { verify: edVerify } = crypto();
  if (!edVerify(null, message, keyObject, sig.signature)) {
    throw new UpdaterError("E_SIGNATURE", `signature does not verify with key ${key.id}`);
  }
  const comment = Buffer.from(sig.trustedComment, "utf8");
  if (!edVerify(null, Buffer.concat([sig.signature, comment]), keyObject, sig.globalSignature)) {
    throw new UpdaterError(
      "E_SIGNATURE",
      `trusted comment signature does not verify with key ${key.id}`,
    );
  }
  return { key, trustedComment: sig.trustedComment };
}
