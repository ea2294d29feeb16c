import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Release } from "../../src/feed/manifest.js";
import { backOff, clearRelease, recordOutcome } from "../../src/state/failures.js";
import { emptyState } from "../../src/state/store.js";

const target: Release = {
  version: "2.0.0",
  sha: "bad0000",
  url: "x.tar.gz",
  sha256: "0".repeat(64),
  size: 1,
  rollout: { percent: 100 },
};
const now = new Date("2026-11-26T12:00:00Z");
const outcome = (
  verdict: "rolled_back" | "failed" | "rollback_failed" | "updated",
  code: string | null,
  extra = {},
) => ({
  target,
  verdict,
  code: code as never,
  error: "why",
  maxInstallAttempts: 3,
  now,
  ...extra,
});

describe("failed-release rules", () => {
  test("a rollback to a healthy previous release marks the release", () => {
    const state = emptyState();
    assert.equal(recordOutcome(state, outcome("rolled_back", "E_PROBE")), "marked");
    assert.equal(state.failed_releases.bad0000?.version, "2.0.0");
  });

  test("a rollback by crash recovery, a failed rollback and environment errors never mark", () => {
    for (const [verdict, code, extra] of [
      ["rolled_back", "E_PROBE", { recovered: true }],
      ["rollback_failed", "E_ROLLBACK", {}],
      ["failed", "E_DIGEST", {}],
      ["failed", "E_DISK", {}],
      ["failed", "E_TIMEOUT", {}],
    ] as const) {
      const state = emptyState();
      assert.equal(
        recordOutcome(state, outcome(verdict, code, extra)),
        "retry",
        `${verdict} ${code}`,
      );
      assert.deepEqual(state.failed_releases, {});
    }
  });

  test("install or smoke failures mark the release after max_install_attempts in a row", () => {
    const state = emptyState();
    assert.equal(recordOutcome(state, outcome("failed", "E_INSTALL")), "retry");
    assert.equal(recordOutcome(state, outcome("failed", "E_SMOKE")), "retry");
    assert.equal(recordOutcome(state, outcome("failed", "E_INSTALL")), "marked");
  });

  test("an environment failure in between resets the run of install failures", () => {
    const state = emptyState();
    recordOutcome(state, outcome("failed", "E_INSTALL"));
    recordOutcome(state, outcome("failed", "E_INSTALL"));
    recordOutcome(state, outcome("failed", "E_DISK"));
    assert.equal(recordOutcome(state, outcome("failed", "E_INSTALL")), "retry");
  });

  test("unmarked failures back off 1, 2, 4 cycles; an update clears everything", () => {
    const state = emptyState();
    const skipsAfter = () => {
      let skips = 0;
      while (backOff(state, "bad0000", now)) skips++;
      return skips;
    };
    recordOutcome(state, outcome("failed", "E_TIMEOUT"));
    assert.equal(skipsAfter(), 1);
    recordOutcome(state, outcome("failed", "E_TIMEOUT"));
    assert.equal(skipsAfter(), 2);
    recordOutcome(state, outcome("failed", "E_TIMEOUT"));
    assert.equal(skipsAfter(), 4);
    recordOutcome(state, outcome("updated", null));
    assert.deepEqual(state.retries, {});
  });

  test("the backoff never holds a release more than 6 hours", () => {
    const state = emptyState();
    for (let i = 0; i < 12; i++) recordOutcome(state, outcome("failed", "E_TIMEOUT"));
    assert.ok(backOff(state, "bad0000", now));
    assert.equal(backOff(state, "bad0000", new Date(now.getTime() + 6 * 3600_000)), null);
  });

  test("clear forgets a mark", () => {
    const state = emptyState();
    recordOutcome(state, outcome("rolled_back", "E_PROBE"));
    assert.equal(clearRelease(state, "bad0000"), true);
    assert.deepEqual(state.failed_releases, {});
    assert.equal(clearRelease(state, "bad0000"), false);
  });
});
