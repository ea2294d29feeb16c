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
 *
 * The staging folder is 0700 until rotation (slots.ts opens it): no local
 * user can enter a release while it is being built. Every folder inside is
 * made here, one level at a time, and a name that already exists must be a
 * real folder, never a link, so nothing is created or chmod-ed through a
 * link planted on the way. At most MAX_OPEN_FILES files are open at once:
 * on a slow disk their fsyncs pile up, and an archive of many small files
 * would otherwise run the process out of descriptors (EMFILE).
 */
import {
  chmodSync,
  constants,
  createReadStream,
  createWriteStream,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
} from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { fsError, isLocalFsError, oneLine, UpdaterError } from "../../errors.js";
import { fsyncDir } from "../../fs/atomic.js";
import { type ArchiveLimits, ArchivePolicy, DIR_MODE } from "../archive-policy.js";
import { Slots } from "./slots-limit.js";
import { SMALL_FILE_BYTES, writeSmallFile } from "./small-file.js";
import {
  DecompressedTooLargeError,
  MissingEndError,
  TarFeeder,
  TrailingDataError,
} from "./tar-feed.js";
import { MalformedHeaderError } from "./tar-headers.js";

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
/** Files open at once during extraction (each until its fsync and close). */
export const MAX_OPEN_FILES = 64;
/** The staging folder's mode until rotation. */
export const STAGING_MODE = 0o700;

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
  options: { maxOpenFiles?: number } = {},
): Promise<ExtractResult> {
  const name = basename(tarball);
  await checkGzip(tarball, name);
  await mkdir(dirname(staging), { recursive: true, mode: 0o755 })
    .then(() => mkdir(staging, { mode: STAGING_MODE }))
    .then(() => chmodSync(staging, STAGING_MODE))
    .catch((e) => {
      throw fsError(e, `staging ${staging}`);
    });
  const policy = new ArchivePolicy(limits, name);
  const made = new Set<string>([staging]);
  /**
   * Makes a folder and its missing parents, one level at a time, each 0755
   * whatever the umask. A mkdir -p would follow a link on the way.
   */
  const makeDir = (path: string): void => {
    if (made.has(path)) return;
    makeDir(dirname(path));
    try {
      mkdirSync(path, { mode: DIR_MODE });
    } catch (error) {
      const stat = (error as NodeJS.ErrnoException).code === "EEXIST" ? lstatSync(path) : null;
      if (!stat?.isDirectory())
        throw stat
          ? policy.refuse(
              path.slice(staging.length + 1),
              "something other than a folder is in the way",
            )
          : error;
    }
    chmodSync(path, DIR_MODE);
    made.add(path);
  };
  const slots = new Slots(options.maxOpenFiles ?? MAX_OPEN_FILES);
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

  const localFail = (error: unknown, path: string) =>
    // mkdir/open failing on the host's disk is the host's fault (E_DISK/E_IO), not the archive's
    fail(isLocalFsError(error) ? fsError(error, `extract ${path}`) : error);

  /** Opens and writes one file entry; holds a slot until the file is closed. */
  const writeFile = (entry: ReadEntry, path: string, mode: number): Promise<void> => {
    let fd: number;
    try {
      fd = openSync(join(staging, path), WRITE_FLAGS, mode);
      fchmodSync(fd, mode); // exact, whatever the umask
    } catch (error) {
      slots.release();
      localFail(error, entry.path);
      entry.resume();
      return Promise.resolve();
    }
    const out =
      entry.size <= SMALL_FILE_BYTES
        ? writeSmallFile(entry, fd)
        : createWriteStream("", { fd, flush: true });
    open.add(out);
    const written = "done" in out ? out.done : pipeline(entry, out);
    return written
      .catch((error) => fail(fsError(error, `extract ${path}`)))
      .finally(() => {
        open.delete(out);
        slots.release();
      });
  };

  parser.on("entry", (entry: ReadEntry) => {
    if (failure !== null) return entry.resume();
    try {
      const plan = policy.plan(entry);
      if (plan.kind === "root") return entry.resume();
      // Parents may be implied by the path alone. Folders made once are
      // remembered: a mkdir per file was 8 % of extracting 1,500 files.
      makeDir(dirname(join(staging, plan.path)));
      if (plan.kind === "dir") {
        makeDir(join(staging, plan.path));
        return entry.resume();
      }
      if (slots.tryAcquire()) {
        track(writes, writeFile(entry, plan.path, plan.mode));
        return;
      }
      // No free slot: the entry waits unread, so node-tar holds back the next
      // one and TarFeeder waits for its drain (backpressure all the way up).
      const started = slots.acquire().then(() => {
        if (failure === null) return writeFile(entry, plan.path, plan.mode);
        slots.release();
        entry.resume();
      });
      track(writes, started);
    } catch (error) {
      localFail(error, entry.path);
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
      error instanceof TrailingDataError ||
        error instanceof DecompressedTooLargeError ||
        error instanceof MissingEndError ||
        error instanceof MalformedHeaderError
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
