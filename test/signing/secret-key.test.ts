import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { keygen } from "../../src/signing/keygen.js";
import { parsePublicKey, verifySignature } from "../../src/signing/minisign.js";
import { parseSecretKey, signData } from "../../src/signing/secret-key.js";
import { findMinisign, MINISIGN_SKIP } from "../helpers/minisign-tool.js";
import { tempDir } from "../helpers/tmp.js";

const VECTORS = resolve(import.meta.dirname, "../fixtures/minisign");
const minisign = findMinisign();

describe("minisign secret keys", () => {
  test("keygen writes a 0600 secret key and a public key that verifies its signatures", async (t) => {
    const dir = await tempDir(t);
    const result = await keygen(join(dir, "keys"));
    assert.equal(statSync(result.keyFile).mode & 0o777, 0o600);
    const sk = parseSecretKey(readFileSync(result.keyFile, "utf8"), result.keyFile);
    const pk = parsePublicKey(readFileSync(result.pubFile, "utf8"), result.pubFile);
    assert.equal(pk.id, result.keyId);
    const data = Buffer.from("payload");
    assert.equal(verifySignature(data, signData(sk, data, "c"), [pk]).trustedComment, "c");
  });

  test("keygen refuses to overwrite an existing key", async (t) => {
    const dir = await tempDir(t);
    await keygen(dir);
    const before = readFileSync(join(dir, "minisign.key"));
    await assert.rejects(keygen(dir), /minisign.key already exists; move it away first/);
    assert.deepEqual(readFileSync(join(dir, "minisign.key")), before);
  });

  test("reads a secret key made by the stock tool (minisign -G -W)", () => {
    const sk = parseSecretKey(readFileSync(join(VECTORS, "trusted.key"), "utf8"), "trusted.key");
    const pk = parsePublicKey(readFileSync(join(VECTORS, "trusted.pub"), "utf8"), "trusted.pub");
    assert.equal(sk.id, pk.id);
  });

  test("refuses a damaged or password-encrypted secret key", async (t) => {
    const dir = await tempDir(t);
    const { keyFile } = await keygen(dir);
    const [comment, line] = readFileSync(keyFile, "utf8").split("\n") as [string, string];
    const raw = Buffer.from(line, "base64");
    const flipped = Buffer.from(raw);
    flipped[70] = (flipped[70] as number) ^ 1;
    assert.throws(
      () => parseSecretKey(`${comment}\n${flipped.toString("base64")}\n`, "k"),
      /k: checksum mismatch/,
    );
    const encrypted = Buffer.from(raw);
    encrypted.write("Sc", 2, "latin1");
    assert.throws(
      () => parseSecretKey(`${comment}\n${encrypted.toString("base64")}\n`, "k"),
      /password-encrypted/,
    );
  });

  test("the stock minisign verifies our signatures and signs with our keys", {
    skip: minisign ? false : MINISIGN_SKIP,
  }, async (t) => {
    if (!minisign) return;
    const dir = await tempDir(t);
    const { keyFile, pubFile } = await keygen(join(dir, "k"));
    const file = join(dir, "manifest.json");
    writeFileSync(file, '{"x":1}\n');
    const sk = parseSecretKey(readFileSync(keyFile, "utf8"), keyFile);
    writeFileSync(
      `${file}.minisig`,
      signData(sk, readFileSync(file), "timestamp:1\tfile:manifest.json"),
    );
    const out = execFileSync(minisign.bin, ["-V", "-p", pubFile, "-m", file], {
      env: minisign.env,
      encoding: "utf8",
    });
    assert.match(out, /Signature and comment signature verified/);
    execFileSync(minisign.bin, ["-S", "-s", keyFile, "-m", file, "-x", `${file}.stock`], {
      env: minisign.env,
    });
    const pk = parsePublicKey(readFileSync(pubFile, "utf8"), pubFile);
    assert.match(
      verifySignature(readFileSync(file), readFileSync(`${file}.stock`, "utf8"), [pk])
        .trustedComment,
      /file:manifest.json/,
    );
  });
});
