/**
 * Download the target tarball into state_dir/downloads, hashing while it
 * streams to disk: memory stays flat whatever the release's size (the Python
 * original read the whole tarball into memory). The transfer stops as soon as
 * it passes the manifest's size or limits.max_download_bytes, and the file
 * only gets its final name once size and sha256 match, so a file named
 * <sha256>.tar.gz in downloads/ is always a verified one.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fsError, isLocalFsError, UpdaterError } from "../../errors.js";
import type { Release } from "../../feed/manifest.js";
import { createExclusive, tempNameBeside } from "../../fs/exclusive.js";
import { discard, tooLarge, withGet } from "../../http/get.js";
import type { HttpClient } from "../../http/tls.js";
import type { Logger } from "../../log.js";

export interface DownloadInput {
  client: HttpClient;
  url: string;
  release: Release;
  downloadsDir: string;
  maxDownloadBytes: number;
  /** Connect/idle timeout of the feed, ms; the deadline grows with the size. */
  timeoutMs: number;
  /** Aborted on a stop request: the download is cut off (the cycle is abandoned). */
  stop?: AbortSignal;
  log: Logger;
  /** Monotonic milliseconds, for progress lines. */
  monotonicMs: () => number;
}

export interface Downloaded {
  /** The file to verify: downloads/.<sha256>.tar.gz.<random>.part, or the final name when reused. */
  path: string;
  /** False when a verified copy from an earlier attempt was reused. */
  fetched: boolean;
  bytes: number;
  sha256: string;
}

/** The slowest average rate we wait for before calling a download stalled. */
const MIN_RATE_BYTES_PER_S = 32 * 1024;
const PROGRESS_EVERY_MS = 5000;
/**
 * Body and file buffers of 1 MiB instead of 64 KiB: with the default, undici
 * pauses and resumes the socket so often that a 250 MiB download over
 * loopback took twice as long (bench/fetch-extract.ts).
 */
const CHUNK_BYTES = 1024 * 1024;

export function tarballPath(downloadsDir: string, sha256: string): string {
  return join(downloadsDir, `${sha256}.tar.gz`);
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/** Keeps only `keep` in downloads/: one verified tarball, the latest. */
async function pruneDownloads(dir: string, keep: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (join(dir, name) !== keep) await rm(join(dir, name), { force: true, recursive: true });
  }
}

export async function downloadRelease(input: DownloadInput): Promise<Downloaded> {
  const { release, downloadsDir } = input;
  const final = tarballPath(downloadsDir, release.sha256);
  await mkdir(downloadsDir, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fsError(e, `downloads ${downloadsDir}`);
  });
  if ((await sha256OfFile(final).catch(() => null)) === release.sha256) {
    input.log.info(
      { step: "download", sha: release.sha, version: release.version },
      "Reusing the verified tarball.",
    );
    return { path: final, fetched: false, bytes: release.size, sha256: release.sha256 };
  }
  const limit = Math.min(release.size, input.maxDownloadBytes);
  if (release.size > input.maxDownloadBytes) {
    throw tooLarge("tarball", input.url, input.maxDownloadBytes, `manifest size ${release.size}`);
  }
  // A random name, created O_EXCL|O_NOFOLLOW: never written through a planted link.
  const partial = tempNameBeside(final, "part");
  const deadlineMs = 3 * input.timeoutMs + Math.ceil((release.size / MIN_RATE_BYTES_PER_S) * 1000);
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    await withGet(
      input.url,
      {
        client: input.client,
        deadlineMs,
        what: "tarball",
        highWaterMark: CHUNK_BYTES,
        ...(input.stop ? { cancel: input.stop } : {}),
      },
      async (response) => {
        if (response.contentLength !== undefined && response.contentLength > limit) {
          discard(response.body);
          throw tooLarge(
            "tarball",
            response.url,
            limit,
            `Content-Length ${response.contentLength}`,
          );
        }
        // Opened before the "data" listener below starts the body flowing.
        const handle = await createExclusive(partial, 0o600);
        const started = input.monotonicMs();
        let lastProgress = started;
        const body = response.body;
        // A "data" listener beside the pipe sees every chunk once and keeps
        // the pipe's backpressure; it costs less than a stream stage between
        // the two (bench/fetch-extract.ts).
        body.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > limit) {
            body.destroy(tooLarge("tarball", response.url, limit, `${bytes} bytes read`));
            return;
          }
          hash.update(chunk);
          const now = input.monotonicMs();
          if (now - lastProgress >= PROGRESS_EVERY_MS) {
            lastProgress = now;
            const rate = Math.round((bytes / Math.max(1, now - started)) * 1000);
            input.log.info({ step: "download", bytes, total: release.size, rate }, "Downloading.");
          }
        });
        await pipeline(
          body,
          handle.createWriteStream({ flush: true, highWaterMark: CHUNK_BYTES }),
        ).catch((error) => {
          // the disk, not the network: name the file and keep E_DISK apart from E_NETWORK
          throw isLocalFsError(error) ? fsError(error, `download into ${partial}`) : error;
        });
      },
    );
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof UpdaterError) throw error;
    throw fsError(error, `tarball ${partial}`);
  }
  return { path: partial, fetched: true, bytes, sha256: hash.digest("hex") };
}

/**
 * The sha256 and size must match the signed manifest before anything is
 * extracted; only then does the file get its final name. Returns that path.
 */
export async function verifyDownload(
  downloaded: Downloaded,
  release: Release,
  downloadsDir: string,
  url: string,
): Promise<string> {
  const final = tarballPath(downloadsDir, release.sha256);
  if (downloaded.bytes !== release.size || downloaded.sha256 !== release.sha256) {
    await rm(downloaded.path, { force: true });
    const what =
      downloaded.bytes !== release.size
        ? `size ${release.size}, found ${downloaded.bytes}`
        : `sha256 ${release.sha256}, found ${downloaded.sha256}`;
    throw new UpdaterError("E_DIGEST", `tarball ${url}: expected ${what}`);
  }
  if (downloaded.path !== final) await rename(downloaded.path, final);
  await pruneDownloads(downloadsDir, final);
  return final;
}
