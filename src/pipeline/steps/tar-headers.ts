/**
 * A second, strict reading of the archive's extended headers, block by block
 * beside node-tar's Parser (TarFeeder hands it every block before the end).
 *
 * Why: node-tar is lenient where GNU tar and Go refuse. It drops a PAX record
 * whose length does not match or that lacks its newline, cuts a value at a
 * NUL byte, applies a global PAX header's `path` to later entries, and
 * unpacks a PAX GNU sparse file as its sparse map, and reads on past a lone
 * zero block where GNU tar, Python and Go stop. Each
 * makes node-tar see another archive than other tools do (an operator's
 * `tar -tvf`, a scanner on the master), which is how content is smuggled
 * past a review. So a malformed record, a NUL in a key, a path or a link
 * path, GNU.sparse records, and a global header that renames, resizes or
 * relinks entries are
 * refused (docs/security.md, "Archives other tools read differently").
 *
 * To stay in step with node-tar it decodes each header with node-tar's own
 * Header class and the same extended-header state (node-tar's Pax.parse of
 * records that passed the strict check), so its idea of where each entry's
 * data ends is node-tar's. It only refuses; what is extracted is decided by
 * ArchivePolicy on node-tar's entries.
 */
import { Header, Pax } from "tar";

const BLOCK = 512;
const META_TYPES = new Set([
  "ExtendedHeader",
  "OldExtendedHeader",
  "GlobalExtendedHeader",
  "NextFileHasLongPath",
  "NextFileHasLongLinkpath",
  "OldGnuLongPath",
]);
/** What a global header may not set: every later entry would get it, in node-tar only. */
const GLOBAL_FORBIDDEN = ["path", "linkpath", "size"] as const;

export class MalformedHeaderError extends Error {}

export class TarHeaderCheck {
  /** Blocks of the current entry's data still to come. */
  private dataLeft = 0;
  /** The extended header's bytes being gathered (PAX or GNU long name), and its type. */
  private meta: { type: string; size: number; chunks: Buffer[] } | null = null;
  private ex: Pax | undefined;
  private gex: Pax | undefined;
  /** A header node-tar itself refuses (bad checksum, no path): stop; its error is the one shown. */
  private lost = false;
  /** Blocks seen so far. */
  private blocks = 0;
  /** Where a zero block stood in a header's place, until the next block says whether it ends the archive. */
  private zeroAt: number | null = null;
  /**
   * The extended headers the next entry has so far. One of each at most, and
   * a GNU long name never with a PAX path: node-tar lets the last one win,
   * GNU tar and Python the PAX one, so no order agrees with all of them.
   */
  private pending = new Set<"pax" | "longname" | "longlink">();

  /** One 512-byte block, in archive order, up to (not past) the end-of-archive marker. */
  block(block: Buffer, zero: boolean): void {
    const at = this.blocks++ * BLOCK;
    if (this.lost) return;
    if (this.dataLeft > 0) {
      this.dataLeft--;
      if (this.meta) {
        this.meta.chunks.push(block);
        if (this.dataLeft === 0) this.endMeta();
      }
      return;
    }
    if (zero) {
      // Two in a row end the archive (node-tar's and TarFeeder's logic); one is remembered.
      this.zeroAt ??= at;
      return;
    }
    if (this.zeroAt !== null)
      // GNU tar, Python and Go stop at a zero block; node-tar reads past it.
      throw new MalformedHeaderError(
        `a lone zero block at byte ${this.zeroAt} with more entries after it (other tools stop reading there)`,
      );
    const header = new Header(block, 0, this.ex, this.gex);
    if (!header.cksumValid || !header.path) {
      this.lost = true;
      return;
    }
    checkUstarPrefix(block, this.ex?.path !== undefined || this.pending.has("longname"));
    const size = header.size ?? 0;
    this.dataLeft = Math.ceil(size / BLOCK);
    if (META_TYPES.has(header.type ?? "")) {
      this.meta = { type: header.type as string, size, chunks: [] };
      if (this.dataLeft === 0) this.endMeta();
      return;
    }
    // A file entry ends the extended header's reach (node-tar resets it too).
    this.ex = undefined;
    this.pending.clear();
  }

  /** Notes one more extended header for the next entry; refuses a second or a conflicting one. */
  private note(
    kind: "pax" | "longname" | "longlink",
    paxPath: boolean,
    paxLinkpath: boolean,
  ): void {
    const clash =
      this.pending.has(kind) ||
      (kind === "pax" &&
        ((paxPath && this.pending.has("longname")) ||
          (paxLinkpath && this.pending.has("longlink")))) ||
      (kind === "longname" && this.ex?.path !== undefined) ||
      (kind === "longlink" && this.ex?.linkpath !== undefined);
    if (clash)
      throw new MalformedHeaderError(
        "two extended headers name one entry (tools disagree on which one counts)",
      );
    this.pending.add(kind);
  }

  private endMeta(): void {
    const meta = this.meta as NonNullable<TarHeaderCheck["meta"]>;
    this.meta = null;
    const data = Buffer.concat(meta.chunks).subarray(0, meta.size);
    if (meta.type === "NextFileHasLongPath" || meta.type === "OldGnuLongPath") {
      this.note("longname", false, false);
      return;
    }
    if (meta.type === "NextFileHasLongLinkpath") {
      this.note("longlink", false, false);
      return;
    }
    const why = paxProblem(data);
    const global = meta.type === "GlobalExtendedHeader";
    const what = global ? "a global PAX header" : "a PAX header";
    if (why !== null) throw new MalformedHeaderError(`${what}: ${why}`);
    const text = data.toString("utf8");
    if (!global) {
      const own = Pax.parse(text, undefined, false);
      this.note("pax", own.path !== undefined, own.linkpath !== undefined);
    }
    if (global) {
      this.gex = Pax.parse(text, this.gex, true);
      const set = GLOBAL_FORBIDDEN.filter((key) => this.gex?.[key] !== undefined);
      if (set.length > 0)
        throw new MalformedHeaderError(
          `a global PAX header sets ${set.join(", ")} for every later entry (other tools ignore or apply it differently)`,
        );
    } else this.ex = Pax.parse(text, this.ex, false);
  }
}

/**
 * POSIX ustar keeps a name's leading part in the prefix field, and GNU tar
 * and Python read it whenever the magic is "ustar\0"; node-tar only when the
 * version field is "00" too. A header with a prefix and another version is
 * read as two different names, so it is refused (unless an extended header
 * names the entry, which every tool then uses instead).
 */
function checkUstarPrefix(block: Buffer, named: boolean): void {
  if (named || block.toString("latin1", 257, 263) !== "ustar\0") return;
  if (block.toString("latin1", 263, 265) === "00" || block[345] === 0) return;
  throw new MalformedHeaderError(
    `a ustar header with version ${JSON.stringify(block.toString("latin1", 263, 265))} and a name prefix (node-tar ignores the prefix, GNU tar and Python do not)`,
  );
}

/**
 * Why a PAX extended header's records are malformed, or null. Each record is
 * "<length> <key>=<value>\n", its length in bytes counting itself
 * (POSIX pax, "pax Extended Header"); nothing may follow the last one.
 */
export function paxProblem(data: Buffer): string | null {
  let at = 0;
  let index = 0;
  while (at < data.length) {
    const where = `record ${index + 1} (byte ${at})`;
    const space = data.indexOf(0x20, at);
    const digits = space < 0 ? "" : data.toString("latin1", at, space);
    if (!/^[1-9][0-9]{0,8}$/.test(digits)) return `${where} does not start with its length`;
    const end = at + Number(digits);
    if (end > data.length)
      return `${where} says ${digits} bytes, the header has ${data.length - at} left`;
    const record = data.subarray(space + 1, end);
    if (record.at(-1) !== 0x0a) return `${where} does not end with a newline`;
    const equals = record.indexOf(0x3d);
    if (equals <= 0) return `${where} has no key=value`;
    const key = record.subarray(0, equals);
    if (key.includes(0)) return `${where} has a NUL byte in its key`;
    const name = key.toString("utf8");
    if ((name === "path" || name === "linkpath") && record.subarray(equals + 1, -1).includes(0))
      return `${where} has a NUL byte in ${name}`;
    // GNU tar expands these into a sparse file; node-tar would write the sparse map as its content.
    if (name.startsWith("GNU.sparse."))
      return `${where} marks a GNU sparse file (${name}); sparse files are not allowed`;
    at = end;
    index++;
  }
  return null;
}
