/**
 * unitState's phrase for an error line, from what `systemctl show` prints.
 * The outputs below are systemd 252's for the cases the real-systemd tests
 * meet (test/systemd/real/daemon.test.ts); here each one is pinned.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { test } from "node:test";
import { findOnPath, type Systemctl, unitState } from "../../src/process/systemctl.js";

function showing(stdout: string): Systemctl & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(args) {
      calls.push(args);
      return { ok: true, stdout, stderr: "" };
    },
  };
}

const show = (fields: Record<string, string | number>) =>
  Object.entries(fields)
    .map(([key, value]) => `${key}=${value}`)
    .join("\n");

test("a crash loop that tripped the start limit: Result keeps the first failure, the restarts say the rest", async () => {
  const systemctl = showing(
    show({
      LoadState: "loaded",
      ActiveState: "failed",
      Result: "exit-code",
      NRestarts: 5,
      StartLimitBurst: 5,
    }),
  );
  assert.equal(
    await unitState(systemctl, "decnet-agent.service"),
    "failed (exit-code, start-limit-hit after 5 restarts)",
  );
  assert.deepEqual(systemctl.calls, [
    [
      "show",
      "decnet-agent.service",
      "--property=LoadState,ActiveState,Result,NRestarts,StartLimitBurst",
    ],
  ]);
});

test("other states name what they are, and never the start limit", async () => {
  const cases: Array<[Record<string, string | number>, string]> = [
    [
      {
        LoadState: "loaded",
        ActiveState: "active",
        Result: "success",
        NRestarts: 7,
        StartLimitBurst: 5,
      },
      "active",
    ],
    [
      {
        LoadState: "loaded",
        ActiveState: "failed",
        Result: "exit-code",
        NRestarts: 1,
        StartLimitBurst: 5,
      },
      "failed (exit-code)",
    ],
    [
      {
        LoadState: "loaded",
        ActiveState: "failed",
        Result: "exit-code",
        NRestarts: 9,
        StartLimitBurst: 0,
      },
      "failed (exit-code)",
    ],
    [
      {
        LoadState: "loaded",
        ActiveState: "activating",
        Result: "success",
        NRestarts: 0,
        StartLimitBurst: 5,
      },
      "activating",
    ],
    [{ LoadState: "not-found", ActiveState: "inactive", Result: "success" }, "not found"],
  ];
  for (const [fields, phrase] of cases)
    assert.equal(
      await unitState(showing(show(fields)), "x.service"),
      phrase,
      JSON.stringify(fields),
    );
});

test("systemctl is looked up in absolute PATH entries only: a relative one is the folder root runs in", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "du-find-on-path-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "bin"));
  await writeFile(join(dir, "bin/systemctl"), "#!/bin/sh\n", { mode: 0o755 });
  const cwd = process.cwd();
  process.chdir(dir);
  t.after(() => process.chdir(cwd));
  assert.equal(await findOnPath("systemctl", `bin${delimiter}${delimiter}`), null);
  assert.equal(
    await findOnPath("systemctl", `bin${delimiter}${join(dir, "bin")}`),
    join(dir, "bin/systemctl"),
  );
});
