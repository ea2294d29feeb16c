/**
 * Feeds decompressed tar bytes to node-tar's Parser so that we know where
 * the archive ends, and refuses anything after that end but zero padding.
 *
 * Why: the Parser stops reading at the end-of-archive marker (two zero
 * blocks) and silently drops whatever follows, so a release could carry a
 * second archive (a concatenated gzip member, appended blocks) that no
 * listing of the release shows. GNU tar pads archives with zeros to a
 * 10 KiB record; zeros are fine, anything else is refused.
 *
 * How: each all-zero 512-byte block is written to the Parser on its own and
 * everything between them in one write. The Parser handles a write
 * synchronously (it buffers only partial blocks, and we only write whole
 * ones), so its "eof" event fires during the write of the very block that
 * ends the archive, and every byte after it is ours to check.
 *
 * It also bounds the decompressed stream: a tarball of zeros compresses about
 * 1000:1, so without a bound a signed 500 MiB tarball could keep the CPU busy
 * for hours after the end marker.
 *
 * Every block before the end goes through TarHeaderCheck too (extended
 * headers read strictly), and an archive that ends without its end marker is
 * refused: GNU tar warns of a "lone zero block" or a missing one, and a
 * release cut short at an entry boundary would otherwise pass for whole.
 */
import { once } from "node:events";
import { Writable } from "node:stream";
import type { Parser } from "tar";
import { TarHeaderCheck } from "./tar-headers.js";

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

export class TrailingDataError extends Error {}
export class MissingEndError extends Error {}
export class DecompressedTooLargeError extends Error {}

export class TarFeeder extends Writable {
  /** Archive bytes seen so far (decompressed). */
  private offset = 0;
  private carry: Buffer | null = null;
  private ended = false;
  private readonly headers = new TarHeaderCheck();

  constructor(
    private readonly parser: Parser,
    private readonly maxBytes: number,
  ) {
    super();
    parser.on("eof", () => {
      this.ended = true;
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error) => void) {
    this.feed(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error) => void) {
    try {
      // A partial last block is a truncated archive; the Parser says so on end().
      if (this.carry && !this.ended) this.parser.write(this.carry);
      else if (this.carry) this.checkZero(this.carry, this.offset - this.carry.length);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.parser.once("end", () =>
      callback(
        this.ended
          ? undefined
          : new MissingEndError(
              `no end-of-archive marker after byte ${this.offset} (two zero blocks; the archive may be cut short)`,
            ),
      ),
    );
    this.parser.end();
  }

  private async feed(chunk: Buffer): Promise<void> {
    if (this.offset + chunk.length > this.maxBytes)
      throw new DecompressedTooLargeError(`decompresses to more than ${this.maxBytes} bytes`);
    const data = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    const start = this.offset - (this.carry?.length ?? 0);
    this.offset += chunk.length;
    const whole = data.length - (data.length % BLOCK);
    this.carry = whole < data.length ? data.subarray(whole) : null;
    let run = 0;
    for (let at = 0; at < whole; at += BLOCK) {
      if (this.ended) {
        this.checkZero(data.subarray(at, whole), start + at);
        return;
      }
      const block = data.subarray(at, at + BLOCK);
      const zero = block.equals(ZERO_BLOCK);
      this.headers.block(block, zero);
      if (!zero) continue;
      if (run < at) await this.write1(data.subarray(run, at));
      await this.write1(data.subarray(at, at + BLOCK));
      run = at + BLOCK;
    }
    if (this.ended) this.checkZero(data.subarray(run, whole), start + run);
    else if (run < whole) await this.write1(data.subarray(run, whole));
  }

  /** One write to the Parser, waiting for it to drain when an entry's reader is behind. */
  private async write1(bytes: Buffer): Promise<void> {
    if (!this.parser.write(bytes) && !this.ended) await once(this.parser, "drain");
  }

  private checkZero(bytes: Buffer, at: number): void {
    // block by block with memcmp; a byte loop would crawl through a zero bomb
    for (let block = 0; block < bytes.length; block += BLOCK) {
      const slice = bytes.subarray(block, block + BLOCK);
      if (slice.equals(ZERO_BLOCK.subarray(0, slice.length))) continue;
      const index = block + slice.findIndex((byte) => byte !== 0);
      throw new TrailingDataError(`data after the end-of-archive marker (byte ${at + index})`);
    }
  }
}
