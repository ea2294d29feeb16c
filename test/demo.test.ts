/**
 * `npm run demo` as a newcomer runs it: exit 0 and output that tells the
 * story (installed 1.0.0, updated to 2.0.0, 3.0.0 rolled back then skipped,
 * every report received, nothing pending).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { REPO } from "./helpers/cli.js";
import { PYTHON_SKIP } from "./helpers/python.js";

test("npm run demo tells the whole story", { skip: PYTHON_SKIP }, () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", resolve(REPO, "scripts/demo.ts")], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 240_000,
  });
  const out = run.stdout;
  assert.equal(run.status, 0, `${out}\n${run.stderr}`);
  for (const line of [
    /decnet-updater update -> updated: nothing -> 1\.0\.0 \(exit 0, /,
    /decnet-updater update -> updated: 1\.0\.0 -> 2\.0\.0 \(exit 0, /,
    /decnet-updater update -> rolled_back: 2\.0\.0 -> 3\.0\.0 \(exit 2, /,
    /decnet-updater update -> skipped: 2\.0\.0 -> 3\.0\.0 \(exit 0, /,
    /master received 4 reports:/,
    /pending on the host: 0/,
    /^ {3}active: 2\.0\.0 \(2b2b2b2b2b2b\)/m,
    /^ {3}failed releases: 3\.0\.0 \(3c3c3c3c3c3c\)/m,
    // the master's view, from the receiver's store
    /decnet-updater fleet \(on the master\):/,
    /^ {3}2\.0\.0 +2b2b2b2b2b2b +decnet +1 +1 +0 +0 +0 +0\.0%$/m,
    /^ {3}3\.0\.0 +3c3c3c3c3c3c +decnet +0 +0 +1 +0 +0 +100\.0%$/m,
    /The story: installed 1\.0\.0, updated to 2\.0\.0, 3\.0\.0 rolled back and then skipped, every report received\./,
  ])
    assert.match(out, line);
  // the agent answers the release the host settled on after each step
  assert.deepEqual(
    [...out.matchAll(/the agent answers: (\S+)/g)].map((m) => m[1]),
    ["1.0.0", "2.0.0", "2.0.0", "2.0.0"],
  );
  // it cleans up after itself
  const folder = /in (\/\S+decnet-demo-\S+)/.exec(out)?.[1] ?? "";
  assert.ok(folder.length > 0);
  assert.equal(spawnSync("test", ["-e", folder]).status, 1, `${folder} was left behind`);
});
