import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  FIRST_STEP,
  isLive,
  isTerminal,
  STEPS,
  type StepName,
  type Terminal,
  TRANSITIONS,
} from "../../src/pipeline/transitions.js";

/** Every terminal state reachable from `step`, following both events. */
function reachableEnds(step: StepName, seen = new Set<StepName>()): Set<Terminal> {
  assert.ok(!seen.has(step), `a cycle through ${step}`);
  const ends = new Set<Terminal>();
  for (const next of Object.values(TRANSITIONS[step])) {
    if (isTerminal(next)) ends.add(next);
    else for (const end of reachableEnds(next, new Set([...seen, step]))) ends.add(end);
  }
  return ends;
}

describe("the update's transition table", () => {
  test("has a row for every step and every row names known states", () => {
    for (const step of STEPS) {
      for (const next of Object.values(TRANSITIONS[step])) {
        assert.ok(isTerminal(next) || STEPS.includes(next), `${step} -> ${next}`);
      }
    }
  });

  test("every step reaches an end, without cycles", () => {
    for (const step of STEPS) assert.ok(reachableEnds(step).size > 0, step);
  });

  test("from the first step every outcome is possible", () => {
    assert.deepEqual([...reachableEnds(FIRST_STEP)].sort(), [
      "committed",
      "failed",
      "rollback_failed",
      "rolled_back",
    ]);
  });

  test("a failure before rotation ends the cycle; from rotation on it rolls back", () => {
    for (const step of STEPS.filter((s) => s !== "rollback")) {
      assert.equal(TRANSITIONS[step].fail, isLive(step) ? "rollback" : "failed", step);
    }
  });

  test("the happy path visits the steps in SPEC order and commits", () => {
    const path: string[] = [];
    let step: StepName | Terminal = FIRST_STEP;
    while (!isTerminal(step)) {
      path.push(step);
      step = TRANSITIONS[step].ok;
    }
    assert.equal(step, "committed");
    assert.deepEqual(path, [
      "download",
      "verify",
      "extract",
      "install",
      "smoke",
      "rotate",
      "promote",
      "units",
      "restart",
      "probe",
    ]);
  });
});
