import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { parsePublicKey, verifySignature } from "../../src/signing/minisign.js";

const VECTORS = resolve(import.meta.dirname, "../fixtures/minisign");
const read = (name: string) => readFileSync(join(VECTORS, name));
const text = (name: string) => read(name).toString("utf8");
const trusted = parsePublicKey(text("trusted.pub"), "trusted.pub");
const other = parsePublicKey(text("other.pub"), "other.pub");
const message = read("message.txt");

describe("minisign verification against vectors made by the stock minisign tool", () => {
  test("a prehashed (ED) signature verifies and returns its trusted comment", () => {
    const result = verifySignature(message, text("message.txt.ED.minisig"), [trusted]);
    assert.equal(result.trustedComment, "timestamp:1 file:message.txt");
    assert.equal(result.key.id, trusted.id);
  });

  test("a legacy (Ed) signature verifies", () => {
    const result = verifySignature(message, text("message.txt.Ed.minisig"), [trusted]);
    assert.equal(result.trustedComment, "timestamp:1 file:message.txt");
  });

  test("the key id picks the right key among several (key rotation)", () => {
    assert.equal(
      verifySignature(message, text("message.txt.other-key.minisig"), [trusted, other]).key.id,
      other.id,
    );
    assert.equal(
      verifySignature(message, text("message.txt.ED.minisig"), [other, trusted]).key.id,
      trusted.id,
    );
  });

  test("the public key's display id matches what minisign printed", () => {
    assert.match(text("trusted.pub"), new RegExp(`minisign public key ${trusted.id}`));
  });

  const refusals: Array<[string, Buffer, string, RegExp]> = [
    [
      "a payload changed after signing",
      read("message-tampered.txt"),
      "message.txt.ED.minisig",
      /^signature does not verify with key [0-9A-F]{16}$/,
    ],
    [
      "a payload changed after legacy signing",
      read("message-tampered.txt"),
      "message.txt.Ed.minisig",
      /^signature does not verify with key [0-9A-F]{16}$/,
    ],
    [
      "an edited trusted comment",
      message,
      "tampered-comment.minisig",
      /^trusted comment signature does not verify with key [0-9A-F]{16}$/,
    ],
    [
      "a changed key id",
      message,
      "tampered-keyid.minisig",
      /^signature key id 0807060504030201 is not among the trusted keys \([0-9A-F]{16}\)$/,
    ],
    [
      "a truncated base64 line",
      message,
      "truncated.minisig",
      /^signature file: signature: expected base64 of 74 bytes, found 45 bytes$/,
    ],
    [
      "a signature by a key that is not trusted",
      message,
      "message.txt.other-key.minisig",
      /is not among the trusted keys/,
    ],
  ];
  for (const [name, data, sigFile, expected] of refusals) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => verifySignature(data, text(sigFile), [trusted]),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "E_SIGNATURE");
          assert.match(error.message, expected);
          return true;
        },
      );
    });
  }

  test("refuses a signature file that is not four lines of the minisign format", () => {
    const lines = text("message.txt.ED.minisig").split("\n");
    const cases: Array<[string, RegExp]> = [
      ["", /line 1 is not an untrusted comment/],
      [lines.slice(0, 2).join("\n"), /line 3 is not a trusted comment/],
      [lines.slice(0, 3).join("\n"), /line 4 \(the global signature\) is missing/],
      [[...lines.slice(0, 4), "extra"].join("\n"), /unexpected text after line 4/],
      [
        [lines[0], `${lines[1]?.slice(0, -4)}!!!!`, lines[2], lines[3]].join("\n"),
        /invalid base64/,
      ],
    ];
    for (const [sig, expected] of cases) {
      assert.throws(() => verifySignature(message, sig, [trusted]), expected);
    }
  });

  test("refuses a public key of the wrong length or algorithm", () => {
    assert.throws(
      () => parsePublicKey("RWQAAA", "k"),
      /k: public key: expected base64 of 42 bytes, found 4 bytes/,
    );
    const raw = Buffer.from(text("trusted.pub").split("\n")[1] as string, "base64");
    raw.write("Xx", 0, "latin1");
    assert.throws(() => parsePublicKey(raw.toString("base64"), "k"), /not Ed25519/);
  });
});
