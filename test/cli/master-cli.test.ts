/** The master's commands through the real CLI: `fleet` on a terminal and in JSON, `--host`, and their one-line refusals. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { checkReport } from "../../src/master/report-schema.js";
import { openStore } from "../../src/master/store/open.js";
import { insertReports } from "../../src/master/store/reports.js";
import { runCli } from "../helpers/cli.js";
import { hostReport } from "../helpers/reports.js";
import { tempDir } from "../helpers/tmp.js";

async function receiverDir(
  t: Parameters<typeof tempDir>[0],
): Promise<{ dir: string; config: string }> {
  const dir = await tempDir(t, "du-master-cli-");
  const config = join(dir, "receiver.toml");
  await writeFile(
    config,
    `state_dir = "${join(dir, "state")}"\n[proxy]\ntrusted = ["127.0.0.1"]\n`,
  );
  return { dir, config };
}

test("fleet without a store says where it looked, in one line", async (t) => {
  const { dir, config } = await receiverDir(t);
  const run = await runCli(["fleet", "--config", config]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  assert.match(
    run.stderr,
    new RegExp(`^decnet-updater: store ${join(dir, "state/reports.sqlite")}: .+\\n$`),
  );
  // a look changes nothing: no store, not even its folder, is made
  assert.deepEqual(await readdir(dir), ["receiver.toml"]);
});

test("fleet --host: the host's newest reports with their steps; --json for automation", async (t) => {
  const { dir, config } = await receiverDir(t);
  const db = await openStore({ sqlitePath: join(dir, "state/reports.sqlite") }, "receive");
  const bodies = [
    hostReport({ host_id: "w1", finished_at: "2026-12-01T10:00:00.000Z" }),
    hostReport({
      host_id: "w1",
      finished_at: "2026-12-01T11:00:00.000Z",
      status: "rolled_back",
      error: "probe: GET /health answered 500",
    }),
  ].map((r) => JSON.stringify(r));
  await insertReports(
    db,
    bodies.map((body) => {
      const checked = checkReport(JSON.parse(body));
      assert.ok(checked.ok);
      return {
        report: checked.report,
        body,
        digest: createHash("sha256").update(body).digest("hex"),
        receivedAt: new Date().toISOString(),
      };
    }),
  );
  await db.close();
  const text = await runCli(["fleet", "--config", config, "--host", "w1"]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split("\n");
  assert.match(
    lines[0] as string,
    /^2026-12-01T11:00:00\.000Z {2}rolled_back {2}1\.0\.0 -> 1\.1\.0 {2}\([0-9a-f-]{36}\)$/,
  );
  assert.equal(lines[1], "  error: probe: GET /health answered 500");
  assert.equal(lines[2], "  steps: fetch 12ms, probe 300ms");
  const json = await runCli(["fleet", "--config", config, "--host", "w1", "--json"]);
  const doc = JSON.parse(json.stdout);
  assert.deepEqual(
    doc.reports.map((r: { status: string }) => r.status),
    ["rolled_back", "updated"],
  );
  const none = await runCli(["fleet", "--config", config, "--host", "nobody"]);
  assert.equal(none.stdout, "No reports from nobody.\n");
  const fleet = await runCli(["fleet", "--config", config, "--stale", "1h"]);
  assert.equal(fleet.code, 0, fleet.stderr);
  assert.match(fleet.stdout, /^1 host\(s\) have reported\.$/m);
  assert.match(fleet.stdout, /^Stale: 0 host\(s\) not seen for 1h\.$/m);
  assert.match(fleet.stdout, /^Failing: 1 host\(s\) whose newest outcome is a failure\.$/m);
  assert.match(
    fleet.stdout,
    /^w1\s+rolled_back\s+1\.1\.0\s+\S+ ago\s+probe: GET \/health answered 500$/m,
  );
});

test("rollout needs --version with --to, or --halt: a usage error otherwise", async (t) => {
  const { config } = await receiverDir(t);
  const run = await runCli([
    "rollout",
    "--config",
    config,
    "--feed",
    "/nonexistent",
    "--key",
    "/nonexistent",
    "--version",
    "1.0.0",
  ]);
  assert.equal(run.code, 64);
  assert.equal(run.stderr, "decnet-updater: give --version V --to PERCENT, or --halt V\n");
  const bad = await runCli([
    "rollout",
    "--config",
    config,
    "--feed",
    "/f",
    "--key",
    "/k",
    "--version",
    "1.0.0",
    "--to",
    "150",
  ]);
  assert.equal(bad.code, 64);
  assert.match(
    bad.stderr,
    /option '--to <percent>' argument '150' is invalid\. expected an integer from 0 to 100, or "next"/,
  );
});
