/**
 * A report's error and warning lines are cut where the receiver's limit is:
 * a longer one would be refused for good, and the host would set the whole
 * report aside (outbox/rejected/), so the master would never hear of it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkReport } from "../../src/master/report-schema.js";
import { REPORT_LINE_MAX, reportOf } from "../../src/report/build.js";

test("an error or warning longer than the receiver takes is cut to its limit, and the report is accepted", () => {
  const long = `pip: ${"x".repeat(REPORT_LINE_MAX * 2)}`;
  const report = reportOf(
    { host_id: "worker-1" },
    {
      status: "failed",
      from: null,
      to: { sha: "a".repeat(40), version: "1.0.0" },
      manifest_serial: 1,
      started_at: "2026-12-02T00:00:00.000Z",
      finished_at: "2026-12-02T00:00:01.000Z",
      steps: [],
      warnings: [long, "short"],
      error: new Error(long),
    },
  );
  assert.equal(report.error?.length, REPORT_LINE_MAX);
  assert.ok(report.error?.startsWith("pip: xxx"));
  assert.deepEqual(
    report.warnings?.map((w) => w.length),
    [REPORT_LINE_MAX, 5],
  );
  const checked = checkReport(JSON.parse(JSON.stringify(report)));
  assert.equal(checked.ok, true, JSON.stringify(checked));
});
