/**
 * When in each check interval this host polls.
 *
 * Every host waits the same offset after every cron slot: a fraction of the
 * splay taken from sha256(host_id), not a fresh random draw per slot. A
 * fleet's polls are then spread evenly over the splay and the spread is the
 * same every interval, each host polls exactly one interval apart (a random
 * draw per slot can put two polls seconds apart and the next ones twice the
 * interval apart), and `status` can say the exact second of the next check.
 * systemd's timer does the same with `FixedRandomDelay=yes`.
 *
 * With the splay as long as the interval (the default, 900 s for
 * `*\/15 * * * *`), N hosts put N / interval requests per second on the
 * feed, evenly: bench/fleet-load.ts and docs/performance.md.
 */
import { createHash } from "node:crypto";

/** This host's offset into each interval, ms in [0, spanMs). */
export function hostPhaseMs(hostId: string, spanMs: number): number {
  if (spanMs <= 0) return 0;
  const fraction =
    createHash("sha256").update(`splay\0${hostId}`).digest().readUInt32BE(0) / 2 ** 32;
  return Math.floor(fraction * spanMs);
}

/**
 * The splay in use, ms: `splay_s`, but never as long as the shortest gap
 * between the next cron slots, since a wait past the next slot would make
 * the daemon skip that slot.
 */
export function splaySpanMs(splayS: number, nextSlots: readonly Date[]): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < nextSlots.length; i++) {
    shortest = Math.min(
      shortest,
      (nextSlots[i] as Date).getTime() - (nextSlots[i - 1] as Date).getTime(),
    );
  }
  return Math.max(0, Math.min(splayS * 1000, shortest));
}
