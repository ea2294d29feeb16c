/**
 * A counting semaphore: at most `size` holders at once, the rest wait in
 * order. Extraction takes one per open file (extract.ts).
 */
export class Slots {
  private held = 0;
  private readonly waiting: Array<() => void> = [];
  /** The most holders there ever were at once. */
  peak = 0;

  constructor(private readonly size: number) {}

  /** Takes a slot now if one is free (the common case, without a promise). */
  tryAcquire(): boolean {
    if (this.held >= this.size) return false;
    this.take();
    return true;
  }

  /** Resolves once a slot is ours, in the order asked. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // the slot passes straight to the next in line
    else this.held--;
  }

  private take(): void {
    this.held++;
    this.peak = Math.max(this.peak, this.held);
  }
}
