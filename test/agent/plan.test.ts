/**
 * `plan`: what the next cycle would decide and why, field by field, with a
 * fake clock, against a real mTLS feed and a real release tarball; and proof
 * that it changed nothing (install dir, state dir, units dir, no conditional
 * request that would have needed a stored ETag).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { runPlan } from "../../src/agent/plan.js";
import { loadConfig } from "../../src/config/load.js";
import { rolloutBucket } from "../../src/feed/select.js";
import { runCli } from "../helpers/cli.js";
import { agentDeps } from "../helpers/deps.js";
import { type AgentDirs, runningHost } from "../helpers/feed.js";
import { type Master, offerUpgrade, startMaster } from "../helpers/master.js";
import { buildReleaseTarball } from "../helpers/release.js";
import { snapshot } from "../helpers/snapshot.js";

const DAY = 86_400_000;
let master: Master;
let root: string;
let dirs: AgentDirs;
let unitsDir: string;
let size: number;

const unit = (exec: string) => `[Service]\nExecStart=${exec}\n`;

before(async () => {
  master = await startMaster("du-plan-");
  root = master.root;
  const tarball = await buildReleaseTarball(root, {
    version: "1.1.0",
    sha: "1100000bbbb",
    noWheels: true,
    units: {
      "decnet-agent.service": unit("/opt/decnet/venv/bin/decnet agent --new-flag"),
      "decnet-web.service": unit("/opt/decnet/venv/bin/decnet web"),
    },
  });
  const bytes = await readFile(tarball);
  size = bytes.length;
  offerUpgrade(master, {
    url: basename(tarball),
    size,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  });
  master.files.set(`/feed/${basename(tarball)}`, bytes);
  unitsDir = join(root, "host/etc/systemd/system");
  await mkdir(join(root, "host"), { recursive: true });
  dirs = await runningHost(
    join(root, "host"),
    master.pki,
    master.signer,
    `${master.server.url}/feed`,
    {
      pin: { min_age: "1d" },
      schedule: { windows: ["Sat 02:00-04:00"], timezone: "UTC" },
      units: { dir: unitsDir },
    },
  );
  // what runs now: the 1.0.0 unit; the previous release 0.9.0 had an older one
  await mkdir(unitsDir, { recursive: true });
  await writeFile(
    join(unitsDir, "decnet-agent.service"),
    unit("/opt/decnet/venv/bin/decnet agent"),
  );
  const prev = join(dirs.installDir, "releases/prev");
  await mkdir(join(prev, "etc/systemd/system"), { recursive: true });
  await writeFile(
    join(prev, ".decnet-release.json"),
    JSON.stringify({ sha: "0900000cccc", version: "0.9.0", venv: "venvs/0900000cccc" }),
  );
  await writeFile(
    join(prev, "etc/systemd/system/decnet-agent.service"),
    unit("/opt/decnet/venv/bin/decnet agent --old-flag"),
  );
});
after(() => master.close());

test("plan --json: the decision and every reason, field by field, and nothing changed", async () => {
  const friday = new Date(Date.now());
  friday.setUTCHours(12, 0, 0, 0);
  while (friday.getUTCDay() !== 5 || friday.getTime() <= Date.now())
    friday.setTime(friday.getTime() + DAY);
  master.date = friday;
  const before = {
    install: await snapshot(dirs.installDir),
    state: await snapshot(dirs.stateDir),
    units: await snapshot(unitsDir),
  };
  master.server.requests.length = 0;
  const plan = await runPlan(await loadConfig(dirs.configFile), agentDeps({ now: () => friday }));

  const seen = friday.toISOString();
  const minAgeReason = `1.1.0 (1100000bbbb) was first seen here at ${seen}; pin.min_age lets it in at ${new Date(friday.getTime() + DAY).toISOString()}`;
  assert.equal(plan.status, "held"); // what update says, and check (issue 16)
  assert.equal(plan.reason, `1.1.0 (1100000bbbb) is the target; it waits: ${minAgeReason}`);
  assert.deepEqual(plan.manifest, { serial: 10, source: "feed", error: null });
  assert.equal(plan.state_problem, null);
  assert.deepEqual(plan.active, { sha: "1000000aaaa", version: "1.0.0" });
  assert.deepEqual(plan.prev, { sha: "0900000cccc", version: "0.9.0" });
  assert.deepEqual(plan.target, {
    sha: "1100000bbbb",
    version: "1.1.0",
    critical: false,
    min_updater: null,
    size,
  });
  assert.deepEqual(plan.pin, { version: null, sha: null, hold: false, min_age_s: 86_400 });
  assert.deepEqual(plan.rollout, {
    percent: 100,
    bucket: rolloutBucket("test-host", "1100000bbbb"),
    applies: true,
  });
  assert.deepEqual(plan.gates?.min_age, {
    name: "min_age",
    open: false,
    reason: minAgeReason,
    opens_at: new Date(friday.getTime() + DAY).toISOString(),
  });
  const saturday = new Date(friday.getTime() + 14 * 3600_000).toISOString();
  assert.deepEqual(plan.gates?.window, {
    name: "window",
    open: false,
    reason: `outside the maintenance windows; the next, Sat 02:00-04:00 UTC, opens at ${saturday}`,
    opens_at: saturday,
  });
  assert.deepEqual(plan.gates?.budget, {
    name: "budget",
    open: true,
    reason: "0 of 4 updates used in the last 24 h",
    opens_at: null,
  });
  assert.equal(plan.first_seen, seen);
  assert.equal(plan.backoff, null);
  assert.deepEqual(plan.failed_releases, {});

  const pre = plan.preflight;
  assert.ok(pre);
  assert.equal(pre.download.path, join(dirs.stateDir, "downloads"));
  assert.equal(pre.download.needed_bytes, size);
  assert.ok(pre.download.free_bytes > size);
  assert.equal(pre.install.path, dirs.installDir);
  assert.equal(pre.install.needed_bytes, size * 4 + 64 * 2 ** 20);
  assert.deepEqual(
    pre.certificates.map((c) => [c.what, c.path, c.problem, c.warning]),
    [
      ["client certificate (feed.cert)", master.pki.client.cert, null, null],
      ["CA (feed.ca)", master.pki.ca, null, null],
    ],
  );
  assert.deepEqual(pre.clock, { server_date: friday.toUTCString(), skew_s: 0 });
  assert.equal(pre.failure, null);
  assert.deepEqual(pre.warnings, []);

  assert.equal(plan.units.known, true);
  assert.deepEqual(
    plan.units.changes.map((c) => [c.name, c.action]),
    [
      ["decnet-agent.service", "change"],
      ["decnet-web.service", "add"],
    ],
  );
  assert.equal(
    plan.units.changes[0]?.diff?.split("\n").slice(0, 2).join("|"),
    "--- installed/decnet-agent.service|+++ release/decnet-agent.service",
  );
  assert.match(
    plan.units.changes[0]?.diff ?? "",
    /^-ExecStart=\/opt\/decnet\/venv\/bin\/decnet agent$/m,
  );
  assert.match(
    plan.units.changes[0]?.diff ?? "",
    /^\+ExecStart=\/opt\/decnet\/venv\/bin\/decnet agent --new-flag$/m,
  );
  assert.equal(plan.units.changes[1]?.diff, null);
  assert.deepEqual(plan.rollback.restores, { sha: "0900000cccc", version: "0.9.0" });
  assert.equal(plan.rollback.venv, "venvs/0900000cccc");
  assert.deepEqual(
    plan.rollback.units.map((c) => [c.name, c.action]),
    [["decnet-agent.service", "change"]],
  );
  assert.match(plan.rollback.units[0]?.diff ?? "", /^\+ExecStart=.* --old-flag$/m);

  // nothing changed, and the manifest was asked for whole (no stored ETag was used or made)
  assert.deepEqual(await snapshot(dirs.installDir), before.install);
  assert.deepEqual(await snapshot(dirs.stateDir), before.state);
  assert.deepEqual(await snapshot(unitsDir), before.units);
  const asked = master.server.requests.filter((r) => r.path === "/feed/manifest.json");
  assert.equal(asked.length, 1);
  assert.equal(asked[0]?.headers["if-none-match"], undefined);
});

test("the plan command prints the same as one JSON object, and a readable summary", async () => {
  master.date = null;
  const json = await runCli(["plan", "--config", dirs.configFile, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const plan = JSON.parse(json.stdout);
  assert.equal(plan.status, "held"); // what update says, and check (issue 16)
  assert.equal(plan.target.version, "1.1.0");
  const text = await runCli(["plan", "--config", dirs.configFile]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^next cycle: held: 1\.1\.0 \(1100000bbbb\) is the target; it waits: /m,
  );
  assert.match(text.stdout, /^ {2}change decnet-agent\.service$/m);
  assert.match(text.stdout, /^ {4}\+ExecStart=\/opt\/decnet\/venv\/bin\/decnet agent --new-flag$/m);
  assert.match(
    text.stdout,
    /^a rollback would restore: 0\.9\.0 \(0900000cccc\) with venvs\/0900000cccc; units:$/m,
  );
});

test("with the feed unreachable, plan decides from the stored manifest, and only from the one state.json accepted", async () => {
  master.date = null;
  const checked = await runCli(["check", "--config", dirs.configFile, "--json"]);
  assert.ok([0, 100].includes(checked.code ?? -1), checked.stderr);
  const feedFiles = master.files;
  master.files = new Map(); // the master answers 404 to everything
  try {
    const config = await loadConfig(dirs.configFile);
    const plan = await runPlan(config, agentDeps());
    assert.deepEqual(plan.manifest, {
      serial: 10,
      source: "stored",
      error: `manifest ${master.server.url}/feed/manifest.json: HTTP 404`,
    });
    assert.equal(plan.target?.version, "1.1.0");
    // a stored manifest that is not the accepted one (edited on disk) is not used
    const stored = join(dirs.stateDir, "manifest.json");
    await writeFile(stored, `${await readFile(stored, "utf8")} `);
    const before = await snapshot(dirs.stateDir);
    await assert.rejects(runPlan(config, agentDeps()), {
      message: `manifest ${master.server.url}/feed/manifest.json: HTTP 404`,
    });
    assert.deepEqual(await snapshot(dirs.stateDir), before);
  } finally {
    master.files = feedFiles;
  }
});

test("a state file moved aside as corrupt: plan says the next cycle refuses manifests, and moves nothing", async () => {
  master.date = null;
  const state = join(dirs.stateDir, "state.json");
  const kept = await readFile(state);
  await writeFile(state, "{ not json");
  const config = await loadConfig(dirs.configFile);
  try {
    const corrupt = await snapshot(dirs.stateDir);
    const seen = await runPlan(config, agentDeps());
    assert.equal(seen.status, "failed");
    assert.match(
      seen.reason,
      /^state .*state\.json: corrupt \(.*\); the next cycle moves it aside$/,
    );
    assert.deepEqual(await snapshot(dirs.stateDir), corrupt, "plan moved nothing aside");
    // what the next cycle leaves: no state.json, a refusal marker
    await rm(state);
    await writeFile(
      `${state}.refused`,
      "found corrupt (not JSON) and moved to state.json.corrupt-x\n",
    );
    const refused = await runPlan(config, agentDeps());
    assert.equal(refused.status, "failed");
    assert.equal(
      refused.reason,
      `state ${state}: found corrupt (not JSON) and moved to state.json.corrupt-x; manifests are refused until 'decnet-updater clear --state' or the file is restored`,
    );
    assert.equal(refused.state_problem, refused.reason);
  } finally {
    await rm(`${state}.refused`, { force: true });
    await writeFile(state, kept);
  }
});
