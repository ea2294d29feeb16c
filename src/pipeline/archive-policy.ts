/**
 * What a release tarball may contain: regular files and directories below
 * the release root, nothing else. Pure (no I/O) so every rule is tested on
 * its own; `extract.ts` applies it to each entry before anything is written.
 *
 * The list follows DECNET's later hardening of extract_tarball and node-tar's
 * advisories: no links of any kind (a symlink or hardlink is the usual way to
 * write outside the target), no devices or FIFOs, no absolute paths or "..",
 * no duplicates or type changes (a later entry replacing an earlier one is
 * how archives smuggle content past a check), bounded names, depth, entry
 * count and unpacked size.
 *
 * Modes are the updater's, not the archive's (SPEC section 14, §2): folders
 * 0755, files 0644, or 0755 when the archive gives the owner execute. Never
 * setuid, setgid, sticky, or writable by group or others: a release built
 * from a checkout with odd modes (or a hostile one) would otherwise give a
 * local user a root-owned folder to drop a wheel or a unit file into.
 */
import { UpdaterError } from "../errors.js";
import { RELEASE_FILE } from "../layout/release-file.js";

export interface ArchiveLimits {
  maxEntries: number;
  maxUnpackedBytes: number;
}

export interface EntryHeader {
  path: string;
  type: string;
  size: number;
  mode?: number | undefined;
}

export type EntryPlan =
  | { kind: "file"; path: string; size: number; mode: number }
  | { kind: "dir"; path: string; mode: number }
  | { kind: "root" };

export const DIR_MODE = 0o755;

/** 0755 when the archive gives the owner execute, else 0644; nothing else of its mode is kept. */
export function fileMode(archiveMode: number | undefined): number {
  return (archiveMode ?? 0) & 0o100 ? 0o755 : 0o644;
}

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_DEPTH = 64;

/** C0 and C1 controls and DEL: a newline or an escape sequence in a name forges log lines. */
const CONTROL = "\\u0000-\\u001f\\u007f-\\u009f";
/** Bidi controls (Trojan Source): they reorder how a name displays in a listing or a log. */
const BIDI = "\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
const CONTROL_CHAR = new RegExp(`[${CONTROL}]`);
const BIDI_CHAR = new RegExp(`[${BIDI}]`);
/** What JSON.stringify leaves raw but a terminal would act on. */
const UNSAFE_DISPLAY = new RegExp(`[\\u007f-\\u009f${BIDI}]`, "g");

/** An entry name for a one-line message: JSON-quoted, with what JSON leaves raw escaped too. */
export function quoteName(name: string): string {
  return JSON.stringify(name).replace(
    UNSAFE_DISPLAY,
    (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}

/** Tracks what the archive has created so far: path -> kind, and the running totals. */
export class ArchivePolicy {
  private readonly seen = new Map<string, "file" | "dir" | "implied-dir">();
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly limits: ArchiveLimits,
    private readonly archiveName: string,
  ) {}

  /** An E_ARCHIVE refusal naming the entry (public for entries node-tar skips before `plan`). */
  refuse(entryPath: string, why: string): UpdaterError {
    return new UpdaterError(
      "E_ARCHIVE",
      `archive ${this.archiveName}: entry ${quoteName(entryPath)}: ${why}`,
    );
  }

  /** The plan for one entry, or an E_ARCHIVE refusal naming it. Call in archive order. */
  plan(entry: EntryHeader): EntryPlan {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw this.refuse(
        entry.path,
        `more than ${this.limits.maxEntries} entries (limits.max_entries)`,
      );
    }
    const isFile = entry.type === "File" || entry.type === "OldFile";
    const isDir = entry.type === "Directory";
    if (!isFile && !isDir)
      throw this.refuse(
        entry.path,
        `type ${entry.type} is not allowed (only files and directories)`,
      );

    const path = this.normalise(entry.path);
    if (path === "") {
      if (isDir) return { kind: "root" };
      throw this.refuse(entry.path, "a file cannot replace the release root");
    }
    if (path === RELEASE_FILE)
      throw this.refuse(entry.path, `reserved name: the updater writes ${RELEASE_FILE} itself`);
    this.checkParents(entry.path, path);
    const before = this.seen.get(path);
    if (before === "file" || before === "dir") {
      const what =
        before === "dir" && isFile
          ? "a file replaces a directory"
          : before === "file" && isDir
            ? "a directory replaces a file"
            : "duplicate entry";
      throw this.refuse(entry.path, what);
    }
    if (before === "implied-dir" && isFile)
      throw this.refuse(entry.path, "a file replaces a directory");
    if (isDir) {
      this.seen.set(path, "dir");
      return { kind: "dir", path, mode: DIR_MODE };
    }
    this.bytes += entry.size;
    if (this.bytes > this.limits.maxUnpackedBytes) {
      throw this.refuse(
        entry.path,
        `unpacked size passes ${this.limits.maxUnpackedBytes} bytes (limits.max_unpacked_bytes)`,
      );
    }
    this.seen.set(path, "file");
    return { kind: "file", path, size: entry.size, mode: fileMode(entry.mode) };
  }

  /** "./a/b/" -> "a/b"; refuses anything that is not a plain relative path. */
  private normalise(raw: string): string {
    if (Buffer.byteLength(raw) > MAX_PATH_BYTES)
      throw this.refuse(raw.slice(0, 80), `path longer than ${MAX_PATH_BYTES} bytes`);
    if (CONTROL_CHAR.test(raw)) throw this.refuse(raw, "control character in the name");
    if (BIDI_CHAR.test(raw)) throw this.refuse(raw, "bidirectional control character in the name");
    // A path separator to node-tar on Windows and to many tools; never in a release built on Linux.
    if (raw.includes("\\")) throw this.refuse(raw, "backslash in the name");
    if (raw.startsWith("/")) throw this.refuse(raw, "absolute path");
    let path = raw;
    while (path.startsWith("./")) path = path.slice(2);
    if (path === ".") path = "";
    if (path.endsWith("/")) path = path.slice(0, -1);
    if (path === "") return "";
    const parts = path.split("/");
    if (parts.length > MAX_DEPTH) throw this.refuse(raw, `nested deeper than ${MAX_DEPTH} levels`);
    for (const part of parts) {
      if (part === "..") throw this.refuse(raw, 'path contains ".."');
      if (part === "." || part === "") throw this.refuse(raw, "path has an empty or '.' segment");
      if (Buffer.byteLength(part) > MAX_NAME_BYTES)
        throw this.refuse(raw, `a name is longer than ${MAX_NAME_BYTES} bytes`);
    }
    return path;
  }

  /** Every parent must be a directory (seen or implied), never a file. */
  private checkParents(raw: string, path: string): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const kind = this.seen.get(parent);
      if (kind === "file")
        throw this.refuse(raw, `${JSON.stringify(parent)} is a file, not a directory`);
      if (kind === undefined) this.seen.set(parent, "implied-dir");
    }
  }

  get totals(): { entries: number; bytes: number } {
    return { entries: this.entries, bytes: this.bytes };
  }
}
