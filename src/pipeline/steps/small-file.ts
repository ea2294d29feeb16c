/**
 * Writing one small archive entry (a source file, most of a release) to its
 * already opened file: its body is gathered as the parser hands it over,
 * written with one synchronous write when the entry ends, then fsynced and
 * closed on the thread pool.
 *
 * Why not a write stream per file: for a DECNET-sized release (1,500 files of
 * a few KiB) the stream, its pipeline and their promises cost about 0.2 ms
 * a file, ten times what GNU tar needs per file on tmpfs (bench/,
 * docs/performance.md). A write of a few KiB into the page cache does not
 * hold up the event loop; the fsync, which may, stays off it.
 */
import { close, closeSync, fsync, writeSync } from "node:fs";
import type { ReadEntry } from "tar";

/** Entries up to this size take this path; larger ones stream. */
export const SMALL_FILE_BYTES = 256 * 1024;

export interface SmallFileWrite {
  /** Settles once the file is written, fsynced and closed (or failed). */
  done: Promise<void>;
  /** Stops waiting for an entry that will never end (the archive was cut short). */
  destroy(reason: Error): void;
}

export function writeSmallFile(entry: ReadEntry, fd: number): SmallFileWrite {
  const chunks: Buffer[] = [];
  let settled = false;
  let reject: (reason: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, rejectDone) => {
    reject = (reason) => {
      if (settled) return;
      settled = true;
      closeSync(fd);
      rejectDone(reason);
    };
    entry.on("data", (chunk: Buffer) => chunks.push(chunk));
    entry.once("end", () => {
      if (settled) return;
      try {
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        for (let at = 0; at < body.length; ) at += writeSync(fd, body, at, body.length - at);
      } catch (error) {
        reject(error as Error);
        return;
      }
      settled = true;
      fsync(fd, (syncError) =>
        close(fd, (closeError) => {
          const error = syncError ?? closeError;
          if (error) rejectDone(error);
          else resolve();
        }),
      );
    });
  });
  return { done, destroy: (reason) => reject(reason) };
}
