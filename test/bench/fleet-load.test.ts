/**
 * The fleet-load simulation of bench/fleet-load.ts counts what the daemon
 * would do: every check once, in the second its schedule puts it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { figures, perSecond } from "../../bench/fleet-load.js";
import { hostPhaseMs } from "../../src/daemon/phase.js";

test("every host checks four times an hour in every scenario", () => {
  for (const scenario of ["no splay", "random 0..300 s", "fixed phase, 900 s (default)"] as const) {
    const counts = perSecond(1000, scenario);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      4000,
      scenario,
    );
  }
});

test("without splay the whole fleet arrives in the slot's first second", () => {
  const load = figures(1000, "no splay", 1000);
  assert.equal(load.peak_rps_1s, 1000);
  assert.deepEqual(
    [...perSecond(1000, "no splay").entries()].filter(([, n]) => n > 0).map(([s]) => s),
    [0, 900, 1800, 2700],
  );
});

test("with the fixed phase each host checks at its slot plus hostPhaseMs, and the busiest minute stays near the mean", () => {
  const counts = perSecond(1, "fixed phase, 900 s (default)");
  const second = Math.floor(hostPhaseMs("worker-000000", 900_000) / 1000);
  assert.deepEqual(
    [...counts.entries()].filter(([, n]) => n > 0).map(([s]) => s),
    [second, second + 900, second + 1800, second + 2700],
  );
  const load = figures(10_000, "fixed phase, 900 s (default)", 1000);
  assert.ok(load.peak_over_mean_60s <= 1.3, `busiest minute ${load.peak_over_mean_60s} x the mean`);
  // the random 300 s splay this replaced: three times the mean for 5 minutes out of 15
  assert.ok(figures(10_000, "random 0..300 s", 1000).peak_over_mean_60s >= 2.5);
});
