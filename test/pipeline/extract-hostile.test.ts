/**
 * Hostile release archives, made at run time block by block. Each must be
 * refused with its exact error; staging must be gone, nothing may appear
 * outside it, and a second look one second later must find the same (a
 * writer that kept going after the refusal would show up then).
 */
import assert from "node:assert/strict";
import { access, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { extractRelease } from "../../src/pipeline/steps/extract.js";
import { snapshot } from "../helpers/snapshot.js";
import { type RawEntry, tarBlocks, tarGz } from "../helpers/tarball.js";
import { tempDir } from "../helpers/tmp.js";

const LIMITS = { maxEntries: 50, maxUnpackedBytes: 1024 * 1024 };
const OUTSIDE = `/tmp/du-hostile-outside-${process.pid}`;

interface HostileArchive {
  name: string;
  bytes: () => Buffer;
  message: RegExp;
}

const good: RawEntry[] = [{ path: "pkg/" }, { path: "pkg/ok.py", body: "print(1)\n" }];
const gz = (entries: RawEntry[]) => () => tarGz(entries);

const cases: HostileArchive[] = [
  {
    name: "a .. path",
    bytes: gz([...good, { path: "../evil", body: "x" }]),
    message: /entry "\.\.\/evil": path contains "\.\."$/,
  },
  {
    name: "a .. inside a path",
    bytes: gz([{ path: "a/../../evil", body: "x" }]),
    message: /entry "a\/\.\.\/\.\.\/evil": path contains "\.\."$/,
  },
  {
    name: "an absolute path",
    bytes: gz([{ path: `${OUTSIDE}/abs`, body: "x" }]),
    message: /: absolute path$/,
  },
  {
    name: "a symlink out of the tree",
    bytes: gz([{ path: "lnk", type: "SymbolicLink", linkpath: "/etc" }]),
    message: /entry "lnk": type SymbolicLink is not allowed \(only files and directories\)$/,
  },
  {
    name: "a symlink then a file written through it",
    bytes: gz([
      { path: "lnk", type: "SymbolicLink", linkpath: OUTSIDE },
      { path: "lnk/file", body: "x" },
    ]),
    message: /entry "lnk": type SymbolicLink is not allowed/,
  },
  {
    name: "a symlink to a later entry",
    bytes: gz([
      { path: "a", type: "SymbolicLink", linkpath: "b" },
      { path: "b", body: "x" },
    ]),
    message: /entry "a": type SymbolicLink/,
  },
  {
    name: "a hardlink out of the tree",
    bytes: gz([{ path: "hl", type: "Link", linkpath: "/etc/passwd" }]),
    message: /entry "hl": type Link is not allowed/,
  },
  {
    name: "a hardlink to a file inside, then an overwrite",
    bytes: gz([
      { path: "f", body: "x" },
      { path: "hl", type: "Link", linkpath: "f" },
      { path: "hl", body: "y" },
    ]),
    message: /entry "hl": type Link is not allowed/,
  },
  {
    name: "a character device",
    bytes: gz([{ path: "dev", type: "CharacterDevice" }]),
    message: /entry "dev": type CharacterDevice is not allowed/,
  },
  {
    name: "a block device",
    bytes: gz([{ path: "blk", type: "BlockDevice" }]),
    message: /entry "blk": type BlockDevice is not allowed/,
  },
  {
    name: "a FIFO",
    bytes: gz([{ path: "fifo", type: "FIFO" }]),
    message: /entry "fifo": type FIFO is not allowed/,
  },
  {
    name: "a contiguous file",
    bytes: gz([{ path: "cf", type: "ContiguousFile", body: "x" }]),
    message: /entry "cf": type ContiguousFile is not allowed/,
  },
  {
    name: "a file replacing a directory",
    bytes: gz([{ path: "a/" }, { path: "a", body: "x" }]),
    message: /entry "a": a file replaces a directory$/,
  },
  {
    name: "a directory replacing a file",
    bytes: gz([{ path: "a", body: "x" }, { path: "a/" }]),
    message: /entry "a\/": a directory replaces a file$/,
  },
  {
    name: "a file under a file",
    bytes: gz([
      { path: "a", body: "x" },
      { path: "a/b", body: "y" },
    ]),
    message: /entry "a\/b": "a" is a file, not a directory$/,
  },
  {
    name: "a file replacing an implied directory",
    bytes: gz([
      { path: "a/b", body: "x" },
      { path: "a", body: "y" },
    ]),
    message: /entry "a": a file replaces a directory$/,
  },
  {
    name: "a duplicate file",
    bytes: gz([
      { path: "f", body: "x" },
      { path: "f", body: "y" },
    ]),
    message: /entry "f": duplicate entry$/,
  },
  {
    name: "a newline in a name",
    bytes: gz([{ path: "bad\nname", body: "x" }]),
    message: /entry "bad\\nname": control character in the name$/,
  },
  {
    name: "an escape character in a name",
    bytes: gz([{ path: "bad\u001b[31m", body: "x" }]),
    message: /control character in the name$/,
  },
  {
    name: "an over-long name",
    bytes: gz([{ path: "x".repeat(90), body: "x", pax: { path: `${"n".repeat(300)}` } }]),
    message: /a name is longer than 255 bytes$/,
  },
  {
    name: "an over-long path",
    bytes: gz([{ path: "x", body: "x", pax: { path: `${"d/".repeat(2100)}f` } }]),
    message: /path longer than 4096 bytes$/,
  },
  {
    name: "deep nesting",
    bytes: gz([{ path: `${"d/".repeat(70)}f`, body: "x", pax: { path: `${"d/".repeat(70)}f` } }]),
    message: /nested deeper than 64 levels$/,
  },
  {
    name: "a PAX header that changes a path to ..",
    bytes: gz([{ path: "innocent.txt", body: "x", pax: { path: "../pax-escape" } }]),
    message: /entry "\.\.\/pax-escape": path contains "\.\."$/,
  },
  {
    name: "too many entries",
    bytes: gz(Array.from({ length: 51 }, (_, i) => ({ path: `f${i}`, body: "x" }))),
    message: /entry "f50": more than 50 entries \(limits\.max_entries\)$/,
  },
  {
    name: "an unpacked size over the limit",
    bytes: gz([
      { path: "a", body: Buffer.alloc(600 * 1024) },
      { path: "b", body: Buffer.alloc(600 * 1024) },
    ]),
    message: /entry "b": unpacked size passes 1048576 bytes \(limits\.max_unpacked_bytes\)$/,
  },
  {
    name: "a gzip bomb",
    bytes: gz([{ path: "bomb", body: Buffer.alloc(64 * 1024 * 1024) }]),
    message: /entry "bomb": unpacked size passes 1048576 bytes/,
  },
  {
    name: "a plain (uncompressed) tar",
    bytes: () => tarBlocks(good),
    message: /: not gzip-compressed \(only \.tar\.gz releases are accepted\)$/,
  },
  {
    name: "a truncated gzip",
    bytes: () => tarGz([...good, { path: "big", body: Buffer.alloc(200_000, 7) }]).subarray(0, 300),
    message: /^archive [^:]+: /,
  },
  {
    name: "a file body shorter than its header says",
    bytes: () =>
      gzipSync(tarBlocks([{ path: "short", body: "abc", size: 5000 }]).subarray(0, 1536)),
    message: /^archive [^:]+: /,
  },
];

describe("hostile archives are refused and leave nothing behind", () => {
  test(`the table has at least 15 kinds (${cases.length})`, () => assert.ok(cases.length >= 15));

  for (const hostile of cases) {
    test(`refuses ${hostile.name}`, async (t) => {
      const base = await tempDir(t);
      const releases = join(base, "opt/decnet/releases");
      await mkdir(join(releases, "active"), { recursive: true });
      await writeFile(join(releases, "active/live.txt"), "the live release\n");
      const tarball = join(base, "release.tar.gz");
      await writeFile(tarball, hostile.bytes());
      const before = await snapshot(base);
      const staging = join(releases, "active.new");

      await assert.rejects(
        extractRelease(tarball, staging, LIMITS),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "E_ARCHIVE", error.message);
          assert.match(error.message, hostile.message);
          assert.ok(!error.message.includes("\n") || hostile.name.includes("newline") === false);
          return true;
        },
      );
      for (const look of ["at once", "one second later"]) {
        if (look !== "at once") await sleep(1000);
        assert.deepEqual(await snapshot(base), before, look);
        await assert.rejects(access(staging), { code: "ENOENT" });
        await assert.rejects(access(OUTSIDE), { code: "ENOENT" });
      }
    });
  }

  test("setuid, setgid and sticky bits are stripped and owners are not kept", async (t) => {
    const base = await tempDir(t);
    const tarball = join(base, "release.tar.gz");
    await writeFile(
      tarball,
      tarGz([
        { path: "bin/", mode: 0o1777 },
        { path: "bin/tool", body: "#!/bin/sh\n", mode: 0o6755 },
      ]),
    );
    const staging = join(base, "active.new");
    assert.deepEqual(await extractRelease(tarball, staging, LIMITS), { entries: 2, bytes: 10 });
    const tool = await stat(join(staging, "bin/tool"));
    assert.equal(tool.mode & 0o7777, 0o755);
    assert.equal((await stat(join(staging, "bin"))).mode & 0o7000, 0);
    assert.equal(tool.uid, process.getuid?.());
  });

  test("a well-formed release extracts with its files and folders", async (t) => {
    const base = await tempDir(t);
    const tarball = join(base, "release.tar.gz");
    await writeFile(
      tarball,
      tarGz([{ path: "./" }, ...good, { path: "implied/deep/file.txt", body: "hello" }]),
    );
    const staging = join(base, "active.new");
    await extractRelease(tarball, staging, LIMITS);
    assert.deepEqual(Object.keys(await snapshot(staging)).sort(), [
      "implied",
      "implied/deep",
      "implied/deep/file.txt",
      "pkg",
      "pkg/ok.py",
    ]);
  });
});
