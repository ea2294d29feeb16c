/** The host's fixed phase in each check interval, and the splay cap. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { hostPhaseMs, splaySpanMs } from "../../src/daemon/phase.js";

test("a host's phase is the same every time and lies within the splay", () => {
  const first = hostPhaseMs("worker-0042.decnet", 900_000);
  assert.equal(hostPhaseMs("worker-0042.decnet", 900_000), first);
  assert.ok(first >= 0 && first < 900_000);
  assert.notEqual(hostPhaseMs("worker-0043.decnet", 900_000), first);
  assert.equal(hostPhaseMs("worker-0042.decnet", 0), 0);
});

test("10,000 hosts named in sequence spread evenly over a 900 s splay", () => {
  const perMinute = new Array<number>(15).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const phase = hostPhaseMs(`worker-${String(i).padStart(5, "0")}`, 900_000);
    perMinute[Math.floor(phase / 60_000)] = (perMinute[Math.floor(phase / 60_000)] ?? 0) + 1;
  }
  const mean = 10_000 / 15;
  // sequential names must not cluster: every minute within 12 % of the mean (Poisson noise is ~4 %)
  for (const [minute, count] of perMinute.entries())
    assert.ok(
      Math.abs(count - mean) / mean < 0.12,
      `minute ${minute}: ${count} hosts, mean ${mean}`,
    );
});

test("the splay is capped at the shortest gap between cron slots", () => {
  const at = (iso: string) => new Date(iso);
  const quarterHours = ["10:00", "10:15", "10:30", "10:45"].map((t) => at(`2026-11-26T${t}:00Z`));
  assert.equal(splaySpanMs(900, quarterHours), 900_000);
  assert.equal(splaySpanMs(300, quarterHours), 300_000);
  assert.equal(splaySpanMs(3600, quarterHours), 900_000);
  const twiceADay = ["2026-11-26T09:00:00Z", "2026-11-26T17:00:00Z", "2026-11-27T09:00:00Z"].map(
    at,
  );
  assert.equal(splaySpanMs(900, twiceADay), 900_000);
  assert.equal(splaySpanMs(86_400, twiceADay), 8 * 3_600_000);
  assert.equal(splaySpanMs(0, quarterHours), 0);
});
