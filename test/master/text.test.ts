/** `fleet` on a terminal: what a host sent cannot move the cursor, clear the screen or fake a row. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { FleetSummary } from "../../src/master/fleet/summary.js";
import { printable, renderFleetText, renderHostText } from "../../src/master/fleet/text.js";

/** Control characters other than the line breaks the renderer itself writes, and a bidi override. */
const controls = (text: string) =>
  [...text].filter((c) => {
    const code = c.codePointAt(0) as number;
    return c !== "\n" && (code < 0x20 || code === 0x7f || code === 0x202e);
  });

test("escape sequences, line breaks and bidi marks from hosts are replaced", () => {
  const evil = "boom\u001b[2J\nworker-9  updated  1.2.0  now  all good\u202e";
  const summary: FleetSummary = {
    generated_at: "2026-12-02T00:00:00.000Z",
    stale_after_s: 86400,
    hosts: 1,
    releases: [],
    stale: { count: 0, hosts: [] },
    failing: {
      count: 1,
      hosts: [
        {
          host_id: "worker-1\r",
          status: "failed",
          to_version: "1.2.0\u0007",
          error: evil,
          at: "2026-12-01T23:00:00.000Z",
        },
      ],
    },
    reports: {},
  };
  const out = renderFleetText(summary);
  assert.deepEqual(controls(out), []);
  assert.ok(
    !out.split("\n").some((line) => line.startsWith("worker-9")),
    "no line of the host's own making",
  );
  assert.match(
    out,
    /^worker-1\ufffd\s+failed\s+1\.2\.0\ufffd\s+60m ago\s+boom\ufffd\[2J\ufffdworker-9 {2}updated/m,
  );
  const host = renderHostText("w\u001b]0;title\u0007", [
    {
      id: "x",
      status: "failed",
      from_version: null,
      to_version: "1\n2",
      finished_at: "t",
      received_at: "t",
      error: "e\u001b[31m",
      steps: [{ name: "pro\nbe", ms: 1, ok: false }],
    },
  ]);
  assert.deepEqual(controls(host), []);
  assert.equal(host.split("\n").length, 4, host);
  assert.equal(printable(null), "");
});
