/**
 * The hostile release archives: each kind a test must see refused, with the
 * refusal it must name. Built at run time block by block (tarball.ts), so no
 * tool in between "fixes" the entry. Used end to end, as signed releases, by
 * test/hostile/archives.test.ts.
 *
 * Sources: DECNET's extract_tarball hardening, node-tar's advisories
 * (symlink and hardlink escapes, path-cache poisoning through a link to a
 * later entry, PAX and GNU long-name path overrides, deep-folder DoS), the
 * Trojan Source paper (bidi controls), and tar format corners (sparse and
 * continuation entries node-tar skips in silence, data after the end marker).
 */
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { type RawEntry, tarBlocks, tarGz } from "./tarball.js";

export interface HostileArchive {
  name: string;
  bytes: () => Buffer;
  message: RegExp;
}

export const HOSTILE_LIMITS = { maxEntries: 50, maxUnpackedBytes: 1024 * 1024 };
export const OUTSIDE = `/tmp/du-hostile-outside-${process.pid}`;

export const good: RawEntry[] = [{ path: "pkg/" }, { path: "pkg/ok.py", body: "print(1)\n" }];
const gz = (entries: RawEntry[]) => () => tarGz(entries);

export const HOSTILE_ARCHIVES: HostileArchive[] = [
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
  {
    name: "tar blocks after the end-of-archive marker",
    bytes: () =>
      gzipSync(Buffer.concat([tarBlocks(good), tarBlocks([{ path: "hidden", body: "x" }])])),
    message: /: data after the end-of-archive marker \(byte 2560\)$/,
  },
  {
    name: "a second gzip member (another archive appended)",
    bytes: () => Buffer.concat([tarGz(good), tarGz([{ path: "second", body: "x" }])]),
    message: /: data after the end-of-archive marker \(byte 2560\)$/,
  },
  {
    name: "garbage after the gzip stream",
    bytes: () => Buffer.concat([tarGz(good), Buffer.from("GARBAGE".repeat(100))]),
    message: /: gzip: incorrect header check$/,
  },
  {
    name: "zeros after the end marker past every limit (a padding bomb)",
    bytes: () => gzipSync(Buffer.concat([tarBlocks(good), Buffer.alloc(8 * 1024 * 1024)])),
    message: /: decompresses to more than \d+ bytes$/,
  },
  {
    name: "a backslash path (a separator to Windows tools)",
    bytes: gz([{ path: "..\\evil", body: "x" }]),
    message: /entry "\.\.\\\\evil": backslash in the name$/,
  },
  {
    name: "a C1 control character in a name",
    bytes: gz([{ path: "evil\u009b.py", body: "x" }]),
    message: /entry "evil\\u009b\.py": control character in the name$/,
  },
  {
    name: "a bidi override in a name (Trojan Source)",
    bytes: gz([{ path: "evil\u202egnp.py", body: "x" }]),
    message: /entry "evil\\u202egnp\.py": bidirectional control character in the name$/,
  },
  {
    name: "the release's own .decnet-release.json (a forged identity)",
    bytes: gz([...good, { path: ".decnet-release.json", body: '{"sha":"forged"}' }]),
    message:
      /entry "\.decnet-release\.json": reserved name: the updater writes \.decnet-release\.json itself$/,
  },
  {
    name: "a GNU long name (type L) that climbs out",
    bytes: () =>
      gzipSync(
        Buffer.concat([
          raw("NextFileHasLongPath", "././@LongLink", "../gnu-escape\0"),
          raw("File", "short", "x"),
          Buffer.alloc(1024),
        ]),
      ),
    message: /entry "\.\.\/gnu-escape": path contains "\.\."$/,
  },
  {
    name: "a sparse file (skipped by node-tar in silence)",
    bytes: () => gzipSync(Buffer.concat([raw("SparseFile", "sparse", "x"), Buffer.alloc(1024)])),
    message: /entry "sparse": type SparseFile is not allowed \(only files and directories\)$/,
  },
  {
    name: "a tape continuation entry (skipped by node-tar in silence)",
    bytes: () =>
      gzipSync(Buffer.concat([raw("ContinuationFile", "cont", "x"), Buffer.alloc(1024)])),
    message: /entry "cont": type ContinuationFile is not allowed/,
  },
  {
    name: "a PAX size that claims gigabytes",
    bytes: gz([{ path: "f", body: "x", pax: { size: "99999999999" } }]),
    message: /entry "f": unpacked size passes 1048576 bytes/,
  },
  {
    name: "a file where the release root is",
    bytes: () => gzipSync(Buffer.concat([raw("File", ".", "x"), Buffer.alloc(1024)])),
    message: /entry "\.": a file cannot replace the release root$/,
  },
  {
    name: "an empty path segment",
    bytes: gz([{ path: "a//b", body: "x" }]),
    message: /entry "a\/\/b": path has an empty or '\.' segment$/,
  },
  {
    name: "a header with a bad checksum",
    bytes: () => {
      const blocks = tarBlocks(good);
      blocks[600] = (blocks[600] as number) ^ 0xff; // inside the second header
      return gzipSync(blocks);
    },
    message: /: TAR_ENTRY_INVALID: checksum failure$/,
  },
  // Archives other tools read differently (issue 15): node-tar is lenient where GNU tar and Go refuse.
  {
    name: "a PAX record without its newline (node-tar drops it, GNU tar refuses)",
    bytes: () => withPax("ExtendedHeader", Buffer.from("12 path=abcd")),
    message: /: a PAX header: record 1 \(byte 0\) does not end with a newline$/,
  },
  {
    name: "a PAX record whose length is wrong",
    bytes: () => withPax("ExtendedHeader", Buffer.from("99 path=abc\n")),
    message: /: a PAX header: record 1 \(byte 0\) says 99 bytes, the header has 12 left$/,
  },
  {
    name: "a NUL byte in a PAX key",
    bytes: () => withPax("ExtendedHeader", paxRecord("pa\0th", "evil")),
    message: /: a PAX header: record 1 \(byte 0\) has a NUL byte in its key$/,
  },
  {
    name: "a NUL byte in a PAX path (node-tar cuts the name there)",
    bytes: () => withPax("ExtendedHeader", paxRecord("path", "ok\0../../evil")),
    message: /: a PAX header: record 1 \(byte 0\) has a NUL byte in path$/,
  },
  {
    name: "a PAX path and a GNU long name for one entry (GNU tar lists one, node-tar writes the other)",
    bytes: () =>
      gzipSync(
        Buffer.concat([
          rawBytes("ExtendedHeader", "PaxHeader/f", paxRecord("path", "pax-name.txt")),
          raw("NextFileHasLongPath", "././@LongLink", "gnu-long-name.txt\0"),
          raw("File", "short", "x"),
          Buffer.alloc(1024),
        ]),
      ),
    message: /: two extended headers name one entry \(tools disagree on which one counts\)$/,
  },
  {
    name: "a ustar name prefix under a version node-tar does not read it for",
    bytes: () => {
      const block = raw("File", "name.txt", "x");
      block.write("ustar\0\0\0", 257, "latin1"); // magic "ustar\0", version "\0\0"
      block.write("evil", 345, "latin1"); // the prefix: GNU tar and Python say evil/name.txt
      block.fill(0x20, 148, 156);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += block[i] as number;
      block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
      return gzipSync(Buffer.concat([block, Buffer.alloc(1024)]));
    },
    message:
      /: a ustar header with version "\\u0000\\u0000" and a name prefix \(node-tar ignores the prefix, GNU tar and Python do not\)$/,
  },
  {
    name: "a PAX GNU sparse file (node-tar would unpack its sparse map as the content)",
    bytes: () => withPax("ExtendedHeader", paxRecord("GNU.sparse.major", "1")),
    message:
      /: a PAX header: record 1 \(byte 0\) marks a GNU sparse file \(GNU\.sparse\.major\); sparse files are not allowed$/,
  },
  {
    name: "a global PAX header that renames every later entry",
    bytes: () => withPax("GlobalExtendedHeader", paxRecord("path", "renamed")),
    message:
      /: a global PAX header sets path for every later entry \(other tools ignore or apply it differently\)$/,
  },
  {
    name: "an archive without its end-of-archive marker",
    bytes: () => {
      const blocks = tarBlocks(good);
      return gzipSync(blocks.subarray(0, blocks.length - 1024));
    },
    message:
      /: no end-of-archive marker after byte 1536 \(two zero blocks; the archive may be cut short\)$/,
  },
  {
    name: "a lone zero block with an entry hidden after it (GNU tar and Python list only what is before)",
    bytes: () => {
      const first = tarBlocks([{ path: "ok.txt", body: "shown" }]);
      const hidden = tarBlocks([{ path: "hidden.txt", body: "smuggled" }]);
      return gzipSync(Buffer.concat([first.subarray(0, 1024), Buffer.alloc(512), hidden]));
    },
    message:
      /: a lone zero block at byte 1024 with more entries after it \(other tools stop reading there\)$/,
  },
  {
    name: "an archive that ends with a lone zero block",
    bytes: () => {
      const blocks = tarBlocks(good);
      return gzipSync(blocks.subarray(0, blocks.length - 512));
    },
    message: /: no end-of-archive marker after byte 2048 /,
  },
  {
    name: "an archive of zeros only",
    bytes: () => gzipSync(Buffer.alloc(10240)),
    message: /: TAR_BAD_ARCHIVE: Unrecognized archive format$/,
  },
];

/** One PAX record, its length counting itself (POSIX pax). */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return Buffer.from(`${length}${body}`);
}

/** An extended header of `type` with exactly these record bytes, then a plain file "f". */
function withPax(type: "ExtendedHeader" | "GlobalExtendedHeader", records: Buffer): Buffer {
  return gzipSync(
    Buffer.concat([
      rawBytes(type, "PaxHeader/f", records),
      raw("File", "f", "x"),
      Buffer.alloc(1024),
    ]),
  );
}

/** One raw header (and padded body) of any type, for entries RawEntry cannot express. */
function raw(type: string, path: string, body: string): Buffer {
  return rawBytes(type, path, Buffer.from(body));
}

function rawBytes(type: string, path: string, bytes: Buffer): Buffer {
  const header = new Header({
    path,
    type: type as never,
    mode: 0o644,
    size: bytes.length,
    uid: 0,
    gid: 0,
    mtime: new Date(0),
  });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  const padding = Buffer.alloc((512 - (bytes.length % 512)) % 512);
  return Buffer.concat([block, bytes, padding]);
}
