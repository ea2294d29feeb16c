/**
 * Tarballs made at run time, block by block with node-tar's Header and Pax
 * encoders, so a test can write exactly the hostile entry it means (a
 * symlink, a device, a PAX path override, a duplicate) and no tool in between
 * "fixes" it.
 */
import { gzipSync } from "node:zlib";
import { Header, Pax } from "tar";

export interface RawEntry {
  path: string;
  type?:
    | "File"
    | "Directory"
    | "SymbolicLink"
    | "Link"
    | "CharacterDevice"
    | "BlockDevice"
    | "FIFO"
    | "ContiguousFile";
  body?: string | Buffer;
  mode?: number;
  linkpath?: string;
  /** A PAX extended header placed before this entry (e.g. { path: "../x" }). */
  pax?: Record<string, string>;
  /** Declared size when it must differ from the body's (truncation tests). */
  size?: number;
}

function pad(buffer: Buffer): Buffer {
  const rest = buffer.length % 512;
  return rest === 0 ? buffer : Buffer.concat([buffer, Buffer.alloc(512 - rest)]);
}

export function tarBlocks(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body);
    const type = entry.type ?? (entry.path.endsWith("/") ? "Directory" : "File");
    if (entry.pax) {
      blocks.push(new Pax({ ...entry.pax, mtime: new Date(0) } as never).encode());
    }
    const header = new Header({
      path: entry.path,
      type,
      mode: entry.mode ?? (type === "Directory" ? 0o755 : 0o644),
      size: entry.size ?? (type === "File" ? body.length : 0),
      linkpath: entry.linkpath ?? "",
      uid: 0,
      gid: 0,
      mtime: new Date(1_700_000_000_000),
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (body.length) blocks.push(pad(body));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function tarGz(entries: RawEntry[]): Buffer {
  return gzipSync(tarBlocks(entries));
}
