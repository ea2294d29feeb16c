/**
 * Extract a verified tarball into releases/active.new.
 *
 * node-tar's Parser reads the format (gzip, ustar, PAX, GNU long names); we
 * write the two entry kinds we allow ourselves instead of using its Unpack.
 * Why by hand: Unpack supports links and so carries path-cache and
 * symlink-race logic that has needed many security fixes, and it can still
 * write entries after it reported an error. Here every entry passes
 * `ArchivePolicy` first, files are opened with O_CREAT|O_EXCL|O_NOFOLLOW (so
 * nothing is ever written through an existing name or link), and we know
 * exactly when the last write has finished: only then is a refused staging
 * folder removed, so nothing can appear in it afterwards.
 */
import { constants, createReadStream, createWriteStream, mkdirSync, openSync } from "node:fs";
import { chmod, mkdir, open, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { fsError, isLocalFsError, oneLine, UpdaterError } from "../../errors.js";
import { fsyncDir } from "../../fs/atomic.js";
import { type ArchiveLimits, ArchivePolicy } from "../archive-policy.js";
import { SMALL_FILE_BYTES, writeSmallFile } from "./small-file.js";
import { DecompressedTooLargeError, TarFeeder, TrailingDataError } from "./tar-feed.js";

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/**
 * Bigger pieces than the streams' defaults (64 KiB reads, 16 KiB of
 * gunzip output): a third less CPU per release for about 1 MiB more memory
 * (bench/fetch-extract.ts, docs/performance.md). The gunzip chunk stays a
 * multiple of 512 so TarFeeder rarely has to carry a partial block.
 */
const READ_CHUNK = 1024 * 1024;
const GUNZIP_CHUNK = 128 * 1024;
const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface ExtractResult {
  entries: number;
  bytes: number;
}

async function checkGzip(tarball: string, name: string): Promise<void> {
  const handle = await open(tarball, "r");
  try {
    const head = Buffer.alloc(2);
    await handle.read(head, 0, 2, 0);
    if (!head.equals(GZIP_MAGIC)) {
      throw new UpdaterError(
        "E_ARCHIVE",
        `archive ${name}: not gzip-compressed (only .tar.gz releases are accepted)`,
      );
    }
  } finally {
    await handle.close();
  }
}

/**
 * Extracts `tarball` into `staging`, which must not exist. On any failure
 * the staging folder is removed after every write has stopped, and the
 * error names the entry.
 */
export async function extractRelease(
  tarball: string,
  staging: string,
  limits: ArchiveLimits,
): Promise<ExtractResult> {
  const name = basename(tarball);
  await checkGzip(tarball, name);
  await mkdir(dirname(staging), { recursive: true, mode: 0o755 })
    .then(() => mkdir(staging, { mode: 0o755 }))
    .catch((e) => {
      throw fsError(e, `staging ${staging}`);
    });
  const policy = new ArchivePolicy(limits, name);
  const made = new Set<string>([staging]);
  const makeDir = (path: string, mode: number) => {
    if (made.has(path)) return;
    mkdirSync(path, { recursive: true, mode });
    made.add(path);
  };
  const writes = new Set<Promise<void>>();
  /** Files being written: stopped when the extraction fails, so the wait for them ends. */
  const open = new Set<{ destroy(error: Error): void }>();
  let failure: unknown = null;
  // We decompress ourselves (TarFeeder must see the tar bytes); no format sniffing.
  const parser = new Parser({ strict: true, brotli: false, zstd: false } as never);
  const feeder = new TarFeeder(parser, decompressedLimit(limits));

  const fail = (error: unknown) => {
    const reason = error instanceof Error ? error : new Error(String(error));
    if (failure === null) failure = error;
    parser.abort(reason);
    feeder.destroy(reason);
    // An entry cut short (truncated input) never ends: stop its writer so the wait below finishes.
    for (const out of open) out.destroy(reason);
  };

  parser.on("entry", (entry: ReadEntry) => {
    if (failure !== null) return entry.resume();
    try {
      const plan = policy.plan(entry);
      if (plan.kind === "root") return entry.resume();
      const target = join(staging, plan.path);
      // Parents may be implied by the path alone; none of them can be a link,
      // since the policy never lets one into the tree. Folders made once are
      // remembered: a mkdir per file was 8 % of extracting 1,500 files.
      makeDir(dirname(target), 0o755);
      if (plan.kind === "dir") {
        makeDir(target, plan.mode);
        const done = chmod(target, plan.mode).catch(fail);
        track(writes, done);
        return entry.resume();
      }
      const fd = openSync(target, WRITE_FLAGS, plan.mode);
      const out =
        entry.size <= SMALL_FILE_BYTES
          ? writeSmallFile(entry, fd)
          : createWriteStream("", { fd, flush: true });
      open.add(out);
      const written = "done" in out ? out.done : pipeline(entry, out);
      const done = written
        .catch((error) => fail(fsError(error, `extract ${plan.path}`)))
        .finally(() => open.delete(out));
      track(writes, done);
    } catch (error) {
      // mkdir/open failing on the host's disk is the host's fault (E_DISK/E_IO), not the archive's
      fail(isLocalFsError(error) ? fsError(error, `extract ${entry.path}`) : error);
      entry.resume();
    }
  });
  // Not in the pipeline (TarFeeder writes to it), so its errors come here.
  parser.on("error", fail);
  // Types node-tar skips without an "entry" (sparse files, tape continuation
  // and volume headers) and metadata headers over its size limit.
  parser.on("ignoredEntry", (entry: ReadEntry) => {
    fail(
      policy.refuse(
        entry.path,
        entry.meta
          ? `a ${entry.type} metadata header of ${entry.size} bytes is too large`
          : `type ${entry.type} is not allowed (only files and directories)`,
      ),
    );
    entry.resume();
  });
  parser.on("warn", (code: string, message: string | Error) => {
    // strict mode turns recoverable warnings into errors; the rest are noise
    if (code === "TAR_ENTRY_INFO") return;
    fail(new UpdaterError("E_ARCHIVE", `archive ${name}: ${oneLine(message)} (${code})`));
  });

  try {
    await pipeline(
      createReadStream(tarball, { highWaterMark: READ_CHUNK }),
      createGunzip({ chunkSize: GUNZIP_CHUNK }),
      feeder,
    );
  } catch (error) {
    fail(
      error instanceof TrailingDataError || error instanceof DecompressedTooLargeError
        ? new UpdaterError("E_ARCHIVE", `archive ${name}: ${error.message}`)
        : String((error as NodeJS.ErrnoException).code).startsWith("Z_")
          ? new UpdaterError("E_ARCHIVE", `archive ${name}: gzip: ${oneLine(error)}`)
          : error,
    );
  }
  // Wait for every write, finished or failed, before deciding anything.
  while (writes.size > 0) await Promise.allSettled([...writes]);
  if (failure !== null) {
    await rm(staging, { recursive: true, force: true });
    if (failure instanceof UpdaterError) throw failure;
    // E_ARCHIVE counts towards marking a release failed: never for the host's own disk
    if (isLocalFsError(failure)) throw fsError(failure, `extract ${name}`);
    throw new UpdaterError("E_ARCHIVE", `archive ${name}: ${oneLine(failure)}`, { cause: failure });
  }
  await fsyncDir(staging);
  return policy.totals;
}

/**
 * The most decompressed bytes a release may take: its unpacked limit, plus
 * headers (a PAX header for a 4 KiB path is about 8 KiB) and end padding.
 */
function decompressedLimit(limits: ArchiveLimits): number {
  return limits.maxUnpackedBytes + limits.maxEntries * 8192 + 1024 * 1024;
}

function track(set: Set<Promise<void>>, promise: Promise<unknown>): void {
  const settled = promise.then(
    () => undefined,
    () => undefined,
  );
  set.add(settled);
  void settled.then(() => set.delete(settled));
}
