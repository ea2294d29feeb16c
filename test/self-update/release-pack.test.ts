/**
 * `npm run release:pack`: the updater's own release tarball (SPEC section
 * 12) passes the same hardened extraction as any release, holds only the
 * production dependencies, and the program in it runs with `node` from its
 * own folder with the npm registry out of reach.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { packRelease } from "../../scripts/release-pack.js";
import { SCHEMA } from "../../src/config/schema.js";
import { extractRelease } from "../../src/pipeline/steps/extract.js";
import { UPDATER_VERSION } from "../../src/version.js";

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-release-pack-test-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test("release:pack makes a release the updater accepts and that runs with no registry", async () => {
  const packed = await packRelease(join(root, "out"));
  assert.equal(packed.version, UPDATER_VERSION);
  assert.match(packed.sha, /^[0-9a-f]{40}$/);
  assert.equal(
    createHash("sha256").update(readFileSync(packed.tarball)).digest("hex"),
    packed.sha256,
  );

  // the updater's own extraction, with the default limits of SPEC section 3
  const slot = join(root, "slot");
  const extracted = await extractRelease(packed.tarball, slot, {
    maxEntries: SCHEMA["limits.max_entries"]?.default as number,
    maxUnpackedBytes: SCHEMA["limits.max_unpacked_bytes"]?.default as number,
  });
  assert.ok(extracted.entries > 1000, `${extracted.entries} entries`);

  // production dependencies, no links, the units and the example configuration
  for (const path of [
    "node_modules/undici/package.json",
    "node_modules/zod/package.json",
    "systemd/decnet-updater.service",
    "launcher/decnet-updater-launch",
    "config/updater.example.toml",
    "package-lock.json",
    "dist/src/cli/package.json",
    "dist/src/cli/chunks/program.mjs",
    "dist/src/cli/fast/update.cjs",
    "dist/src/cli/fast/check.cjs",
    "dist/src/cli/fast/status.cjs",
  ])
    assert.ok(existsSync(join(slot, path)), `${path} is in the release`);
  for (const path of [
    "node_modules/typescript",
    "node_modules/tsx",
    "node_modules/.bin",
    "src",
    // the master's part and its database drivers (issue 18): no native module on hosts
    "node_modules/better-sqlite3",
    "node_modules/pg",
    "dist/src/master",
  ])
    assert.ok(!existsSync(join(slot, path)), `${path} is not in the release`);
  // the bundles alone: tsc's modules of cli/ were their input, and would read as CommonJS there
  assert.deepEqual((await readdir(join(slot, "dist/src/cli"))).sort(), [
    "chunks",
    "fast",
    "main.js",
    "package.json",
  ]);
  assert.deepEqual((await readdir(join(slot, "dist/src/cli/fast"))).sort(), [
    "check.cjs",
    "status.cjs",
    "update.cjs",
  ]);
  const native = spawnSync("find", [slot, "-name", "*.node"], { encoding: "utf8" });
  assert.equal(native.stdout, "", "no compiled add-on in a host's release");

  // run from elsewhere, with npm's registry unreachable: everything comes from the slot
  const env = { PATH: process.env.PATH, npm_config_registry: "http://127.0.0.1:9/" };
  const main = join(slot, "dist/src/cli/main.js");
  const runSlot = (...args: string[]) =>
    spawnSync(process.execPath, [main, ...args], { cwd: root, env, encoding: "utf8" });
  const version = runSlot("--version");
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), UPDATER_VERSION);
  // `check` loads undici, zod and the configuration code before it finds no config file
  const missing = join(root, "nowhere.toml");
  const check = runSlot("check", "--config", missing);
  assert.equal(check.status, 1, check.stderr);
  assert.match(check.stderr, new RegExp(`^decnet-updater: config ${missing}: `));
  // `update` and `status` from their own bundles (plain lines), and through commander (help)
  for (const command of ["update", "status"]) {
    const run = runSlot(command, "--json", "--config", missing);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /"code":"E_CONFIG"/, command);
    const help = runSlot(command, "--help");
    assert.equal(help.status, 0, help.stderr);
    assert.match(
      help.stdout,
      new RegExp(`^Usage: decnet-updater ${command} \\[options\\]`),
      command,
    );
  }
  // the master's commands say in one line that this is a host's release
  const fleet = runSlot("fleet", "--config", missing);
  assert.equal(fleet.status, 64, fleet.stderr);
  assert.equal(
    fleet.stderr,
    "decnet-updater: this is a host's release of decnet-updater, without the master's part: run receive, fleet and rollout from a checkout on the master (npm ci && npm run build)\n",
  );
});
