/**
 * `keygen`: writes DIR/minisign.key (0600, unencrypted, minisign's format)
 * and DIR/minisign.pub. An existing key is never overwritten: losing the
 * signing key of a fleet means re-keying every host.
 */
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { UpdaterError } from "../errors.js";
import { exists } from "../fs/exists.js";
import { formatPublicKey, formatSecretKey, generateSecretKey } from "./secret-key.js";

export interface KeygenResult {
  keyFile: string;
  pubFile: string;
  keyId: string;
  publicKey: string;
}

/** O_EXCL as well: a key file that appears between the check and the write is not replaced. */
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "wx", mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new UpdaterError("E_KEY", `keygen: ${path} already exists; move it away first`);
    }
    throw error;
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function keygen(outDir: string): Promise<KeygenResult> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const keyFile = join(outDir, "minisign.key");
  const pubFile = join(outDir, "minisign.pub");
  for (const path of [keyFile, pubFile]) {
    if (await exists(path))
      throw new UpdaterError("E_KEY", `keygen: ${path} already exists; move it away first`);
  }
  const secretKey = generateSecretKey();
  const pub = formatPublicKey(secretKey);
  await writeNew(keyFile, formatSecretKey(secretKey), 0o600);
  await writeNew(pubFile, pub, 0o644);
  return { keyFile, pubFile, keyId: secretKey.id, publicKey: pub.split("\n")[1] as string };
}
