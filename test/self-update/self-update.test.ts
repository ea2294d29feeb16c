/**
 * Self-update end to end (SPEC section 12, issue 8): two real updater
 * releases made by `release:pack`, the first unpacked by hand into a temp
 * updater install dir, the real launcher as the only way in, real mTLS feeds
 * (DECNET's and the updater's) with a report receiver, real pip installing
 * DECNET's fixture wheels offline.
 *
 * One host's story: an app release that needs a newer updater waits while
 * the updater updates itself; the new updater commits itself on its first
 * start and installs the app; a broken third updater (exits at start) is put
 * back by the launcher after 3 starts, the previous updater reports it and
 * never tries it again.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import * as tar from "tar";
import { publishRelease } from "../../src/feed/publish.js";
import { REPO, runProcess } from "../helpers/cli.js";
import { type Host, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import {
  startMtlsServer,
  staticDir,
  type TestServer,
  withReports,
} from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { buildReleaseTarball } from "../helpers/release.js";
import { snapshot } from "../helpers/snapshot.js";

// Distinct shas: a release is known by its sha, and both packs come from one commit.
const UPDATER = {
  v1: { version: "5.0.1", sha: "5001aaa5001aaa5001aaa5001aaa5001aaa5001a" },
  v2: { version: "5.0.2", sha: "5002bbb5002bbb5002bbb5002bbb5002bbb5002b" },
  broken: { version: "5.0.3", sha: "5003ccc5003ccc5003ccc5003ccc5003ccc5003c" },
};
const APP1 = { version: "1.0.0", sha: "a100000000000000000000000000000000000001" };
const APP2 = { version: "1.1.0", sha: "a110000000000000000000000000000000000002" };
const MISLABELLED = { version: "5.0.5", sha: "5005eee5005eee5005eee5005eee5005eee5005e" };
const V4 = { version: "5.0.4", sha: "5004ddd5004ddd5004ddd5004ddd5004ddd5004d" };
const V6 = { version: "5.0.6", sha: "5006fff5006fff5006fff5006fff5006fff5006f" };

const execFileAsync = promisify(execFile);

type Report = Record<string, unknown> & { status: string; component?: string };

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let reports: Report[];
let host: Host;
let appFeed: string;
let selfFeed: string;
let updaterDir: string;
let launcher: string;
let packs: { v1: string; v2: string };
let feedsDown = false;

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-self-update-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  appFeed = join(root, "feeds/app");
  selfFeed = join(root, "feeds/updater");
  const feeds = withReports<Report>(staticDir(join(root, "feeds")));
  reports = feeds.reports;
  // manifests answer 503 while `feedsDown` (reports still get through)
  server = await startMtlsServer(pki, (req, res) => {
    if (feedsDown && req.method === "GET") res.writeHead(503).end("maintenance");
    else feeds.handler(req, res);
  });
  // two real `npm run release:pack` builds, side by side (each compiles and installs its own)
  const [v1, v2] = await Promise.all(
    [UPDATER.v1.version, UPDATER.v2.version].map(async (version) => {
      await execFileAsync(
        "npm",
        [
          "run",
          "--silent",
          "release:pack",
          "--",
          "--out",
          join(root, "packs"),
          "--version",
          version,
        ],
        { cwd: REPO },
      );
      return join(root, "packs", `decnet-updater-${version}.tar.gz`);
    }),
  );
  packs = { v1: v1 as string, v2: v2 as string };
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/app/`, {
    reportUrl: `${server.url}/reports`,
    // the reports counted here are the cycles' own; heartbeats: test/agent/heartbeat.test.ts
    feed: { heartbeat: "0" },
    extra: {
      self_update: {
        enabled: true,
        feed_url: `${server.url}/updater/`,
        install_dir: join(root, "host/opt/decnet-updater"),
      },
      log: { level: "info" },
    },
  });
  updaterDir = join(root, "host/opt/decnet-updater");
  // The first install, by hand as the README says: unpack into the active slot, point
  // `current` at it, and install the launcher once, outside the slots.
  await mkdir(join(updaterDir, "releases/active"), { recursive: true });
  await tar.x({ file: packs.v1, cwd: join(updaterDir, "releases/active") });
  await symlink("releases/active", join(updaterDir, "current"));
  launcher = join(root, "host/usr/local/bin/decnet-updater");
  await mkdir(dirname(launcher), { recursive: true });
  await copyFile(join(updaterDir, "current/launcher/decnet-updater-launch"), launcher);
  await chmod(launcher, 0o755);
});

after(async () => {
  if (PYTHON_SKIP) return;
  if (host) await killAgent(host.installDir);
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * The operator's (or systemd's) way in: the launcher, nothing else. Async:
 * the feed server lives in this process and must keep answering.
 */
/** A host's environment: node for the release's shebang, nothing of this checkout. */
const hostEnv = (extra: Record<string, string> = {}) => ({
  PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
  DECNET_UPDATER_INSTALL_DIR: updaterDir,
  DECNET_UPDATER_LOG_FORMAT: "json",
  ...extra,
});

/** `run` through the launcher, as the unit starts it; `UNDER_SYSTEMD` sets what systemd sets. */
const startDaemon = (extra: Record<string, string> = {}) =>
  spawn(launcher, ["run", "--config", host.configFile], { env: hostEnv(extra), stdio: "ignore" });
const UNDER_SYSTEMD = { INVOCATION_ID: "0123456789abcdef0123456789abcdef" };

async function launch(...args: string[]) {
  return runProcess(launcher, args, { env: hostEnv() });
}

async function update() {
  const result = await launch("update", "--config", host.configFile, "--json");
  assert.ok(
    result.stdout,
    `no JSON on stdout (exit ${result.code}): ${result.stderr.slice(-2000)}`,
  );
  return { code: result.code, json: JSON.parse(result.stdout), stderr: result.stderr };
}

async function publishApp(app: { version: string; sha: string }, minUpdater?: string) {
  const tarball = await buildReleaseTarball(join(root, "build"), app);
  await publishRelease({
    feedDir: appFeed,
    tarball,
    ...app,
    keyFile: signer.keyFile,
    latest: true,
    rolloutPercent: 100,
    expiresInS: 86400,
    now: new Date(),
    minUpdater,
  });
}

async function publishUpdater(tarball: string, release: { version: string; sha: string }) {
  await publishRelease({
    feedDir: selfFeed,
    component: "decnet-updater",
    tarball,
    ...release,
    keyFile: signer.keyFile,
    latest: true,
    rolloutPercent: 100,
    expiresInS: 86400,
    now: new Date(),
  });
}

/**
 * Release 2 unpacked, changed and packed again, as a bad or odd build would
 * be: `version` goes into package.json, `brokenMain` makes the program exit
 * at start.
 */
async function variantOfV2(
  file: string,
  change: { version: string; brokenMain?: boolean },
): Promise<string> {
  const stage = await mkdtemp(join(root, "variant-"));
  await tar.x({ file: packs.v2, cwd: stage });
  const pkg = JSON.parse(await readFile(join(stage, "package.json"), "utf8"));
  pkg.version = change.version;
  await writeFile(join(stage, "package.json"), JSON.stringify(pkg, null, 2));
  if (change.brokenMain)
    await writeFile(
      join(stage, "dist/src/cli/main.js"),
      `#!/usr/bin/env node\nconsole.error("decnet-updater ${change.version}: broken at start");\nprocess.exit(1);\n`,
    );
  const tarball = join(root, "packs", file);
  await tar.c({ gzip: true, file: tarball, cwd: stage, portable: true }, ["."]);
  return tarball;
}

const brokenRelease = () =>
  variantOfV2("decnet-updater-5.0.3.tar.gz", { version: "5.0.3", brokenMain: true });

const slotVersion = async (slot: string) =>
  JSON.parse(await readFile(join(updaterDir, "releases", slot, "package.json"), "utf8")).version;
const trial = () => readFile(join(updaterDir, "trial"), "utf8").catch(() => null);

test("the updater updates itself first for an app release that needs it, then commits on its first start", {
  skip: PYTHON_SKIP,
  timeout: 600_000,
}, async () => {
  await publishApp(APP1, UPDATER.v2.version);
  await publishUpdater(packs.v2, UPDATER.v2);
  assert.equal((await launch("--version")).stdout.trim(), "5.0.1");

  // 5.0.1: the app release waits, the updater installs 5.0.2 and puts it on trial
  const first = await update();
  assert.equal(first.code, 0, first.stderr.slice(-2000));
  assert.equal(first.json.status, "skipped");
  assert.match(first.json.error ?? "", /^$/, "a wait for the updater is not an error");
  assert.equal(first.json.self.status, "installed");
  assert.deepEqual(first.json.self.to, { sha: UPDATER.v2.sha, version: "5.0.2" });
  assert.equal(await slotVersion("active"), "5.0.2");
  assert.equal(await slotVersion("prev"), "5.0.1");
  assert.equal(await trial(), "0\n");
  const inflight = await readFile(join(host.stateDir, "self/inflight.json"));
  assert.match(
    first.stderr,
    /needs decnet-updater >= 5\.0\.2 and this is 5\.0\.1; the updater updates itself first/,
  );
  assert.ok(!existsSync(join(host.installDir, "current")), "the app was not installed by 5.0.1");
  assert.equal(reports.length, 0, "nothing to report until the new updater commits");

  // 5.0.2, start 1 of its trial: it commits, then installs the app release it was needed for
  const seen = server.requests.length;
  const second = await update();
  // DECNET's feed did not change, yet the release on trial asked for its whole manifest: it
  // commits on a signature it checked itself, not on a 304. Once committed, polls are conditional.
  const manifestAsks = server.requests
    .slice(seen)
    .filter((r) => r.path === "/app/manifest.json" || r.path === "/updater/manifest.json");
  assert.deepEqual(
    manifestAsks.map((r) => [r.path, "if-none-match" in r.headers]),
    [
      ["/app/manifest.json", false],
      ["/updater/manifest.json", true],
    ],
  );
  assert.equal(second.code, 0, second.stderr.slice(-2000));
  assert.equal(await trial(), null, "the trial file is gone: committed");
  assert.equal(second.json.status, "updated");
  assert.deepEqual(second.json.to, { sha: APP1.sha, version: APP1.version });
  assert.equal(second.json.self.status, "up_to_date");
  assert.deepEqual(
    reports.map((r) => [r.component ?? "agent", r.status, (r.to as { version: string }).version]),
    [
      ["updater", "updated", "5.0.2"],
      ["agent", "updated", "1.0.0"],
    ],
  );
  const committed = reports[0] as Report;
  assert.deepEqual(committed.from, { sha: "unknown", version: "5.0.1" });
  assert.equal(committed.updater_version, "5.0.2");
  assert.deepEqual(
    (committed.steps as Array<{ name: string }>).map((s) => s.name),
    ["fetch", "download", "verify", "extract", "rotate", "trial"],
  );
  assert.equal((await launch("--version")).stdout.trim(), "5.0.2");

  const status = JSON.parse((await launch("status", "--config", host.configFile, "--json")).stdout);
  assert.equal(status.updater.running_version, "5.0.2");
  assert.equal(status.updater.active.version, "5.0.2");
  assert.equal(status.updater.trial, null);
  assert.equal(status.updater.last_result.status, "updated");
  const lines = (await launch("status", "--config", host.configFile)).stdout;
  assert.match(
    lines,
    new RegExp(
      `^updater: 5\\.0\\.2 running; active slot 5\\.0\\.2 \\(${UPDATER.v2.sha.slice(0, 12)}\\), prev 5\\.0\\.1 \\(unknown\\)$`,
      "m",
    ),
  );
  assert.match(lines, /^updater last result: updated at \S+$/m);

  // A crash after the commit saved its state and before `trial` went: the next start commits
  // again. The report goes out again under the same id (the master drops it); the count stays 1.
  await writeFile(join(updaterDir, "trial"), "0\n");
  await writeFile(join(host.stateDir, "self/inflight.json"), inflight);
  const again = await update();
  assert.equal(again.code, 0, again.stderr.slice(-2000));
  assert.equal(await trial(), null, "committed again");
  assert.deepEqual(
    reports.slice(2).map((r) => [r.component, r.status, r.id]),
    [["updater", "updated", committed.id]],
  );
  const selfState = JSON.parse(await readFile(join(host.stateDir, "self/state.json"), "utf8"));
  assert.deepEqual(selfState.metrics.updates_total, { updated: 1 });
});

test("a broken updater release is put back after 3 starts, reported, and not tried again", {
  skip: PYTHON_SKIP,
  timeout: 600_000,
}, async () => {
  reports.length = 0;
  await publishApp(APP2);
  await publishUpdater(await brokenRelease(), UPDATER.broken);

  // 5.0.2: the app release goes first, then the updater installs 5.0.3 on trial
  const install = await update();
  assert.equal(install.code, 0, install.stderr.slice(-2000));
  assert.equal(install.json.status, "updated");
  assert.equal(install.json.to.version, APP2.version);
  assert.equal(install.json.self.status, "installed");
  assert.equal(await slotVersion("active"), "5.0.3");
  assert.deepEqual(
    reports.map((r) => r.status),
    ["updated"],
  );

  // three starts of 5.0.3, each dying before it can commit
  for (let start = 1; start <= 3; start++) {
    const crashed = await launch("update", "--config", host.configFile, "--json");
    assert.equal(crashed.code, 1);
    assert.match(crashed.stderr, /decnet-updater 5\.0\.3: broken at start/);
    assert.equal(await trial(), `${start}\n`);
  }
  // an operator's status in between does not use up the trial
  assert.equal((await launch("--version")).code, 1);
  assert.equal(await trial(), "3\n");

  // the fourth start: the launcher puts 5.0.2 back, which reports and marks 5.0.3
  const back = await update();
  assert.equal(back.code, 0, back.stderr.slice(-2000));
  assert.match(back.stderr, /made 3 starts without committing; back to the previous release/);
  assert.equal(await slotVersion("active"), "5.0.2");
  assert.equal(await trial(), null);
  assert.ok(!existsSync(join(updaterDir, "trial-failed.json")), "the failure was settled");
  assert.equal(back.json.self.status, "skipped");
  assert.match(back.json.self.reason, /5\.0\.3 \(5003ccc5003c\) is marked failed on this host/);
  const failed = reports.find((r) => r.status === "rolled_back") as Report;
  assert.ok(failed, `reports: ${JSON.stringify(reports.map((r) => r.status))}`);
  assert.equal(failed.component, "updater");
  assert.deepEqual(failed.to, { sha: UPDATER.broken.sha, version: "5.0.3" });
  assert.deepEqual(failed.from, { sha: UPDATER.v2.sha, version: "5.0.2" });
  assert.match(
    failed.error as string,
    /^updater 5\.0\.3 made 3 starts without committing; the launcher put 5\.0\.2 back$/,
  );
  const slots = (await readdir(join(updaterDir, "releases"))).sort();
  assert.equal(slots.length, 3);
  assert.equal(slots[0], "active");
  assert.match(slots[1] as string, /^failed\.\d+$/, "the broken release is kept for a look");
  // the way back is the release before 5.0.2, never the one that failed (issue 15, point 19)
  assert.equal(slots[2], "prev");
  assert.notEqual(await slotVersion("prev"), "5.0.3");

  // and it stays that way: no reinstall, no report, the app untouched
  const count = reports.length;
  const again = await update();
  assert.equal(again.code, 0);
  assert.equal(again.json.status, "up_to_date");
  assert.equal(again.json.self.status, "skipped");
  assert.equal(await trial(), null);
  assert.equal(reports.length, count);
  const status = JSON.parse((await launch("status", "--config", host.configFile, "--json")).stdout);
  assert.deepEqual(Object.keys(status.updater.failed_releases), [UPDATER.broken.sha]);
  assert.equal(status.updater.last_result.status, "rolled_back");
});

test("clear SHA forgets a failed updater release too", { skip: PYTHON_SKIP }, async () => {
  const cleared = await launch("clear", "--config", host.configFile, UPDATER.broken.sha);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.equal(
    cleared.stdout.trim(),
    `updater release ${UPDATER.broken.sha} cleared: it will be tried on the next cycle`,
  );
  const status = JSON.parse((await launch("status", "--config", host.configFile, "--json")).stdout);
  assert.deepEqual(status.updater.failed_releases, {});
});

test("an updater tarball whose package.json disagrees with the signed manifest is refused and changes nothing", {
  skip: PYTHON_SKIP,
  timeout: 300_000,
}, async () => {
  // a correctly signed entry 5.0.5 whose archive is really 5.0.2
  await publishUpdater(
    await variantOfV2("decnet-updater-5.0.5.tar.gz", { version: "5.0.2" }),
    MISLABELLED,
  );
  reports.length = 0;
  const before = await snapshot(updaterDir);
  const result = await update();
  assert.equal(result.code, 0, "the updater's own failure is not DECNET's exit code");
  assert.equal(result.json.status, "up_to_date");
  assert.equal(result.json.self.status, "failed");
  assert.equal(
    result.json.self.reason,
    'updater release 5.0.5: package.json says version "5.0.2", the manifest says 5.0.5',
  );
  assert.deepEqual(await snapshot(updaterDir), before);
  assert.deepEqual(
    reports.map((r) => [r.component, r.status, r.error]),
    [["updater", "failed", result.json.self.reason]],
  );
});

test("the daemon off systemd re-executes through the launcher into the new release, which commits", {
  skip: PYTHON_SKIP,
  timeout: 300_000,
}, async () => {
  await publishUpdater(
    await variantOfV2("decnet-updater-5.0.4.tar.gz", { version: V4.version }),
    V4,
  );
  reports.length = 0;
  // `run` as systemd would start it, but with no INVOCATION_ID: nobody else restarts it
  const daemon = startDaemon();
  const [firstExit] = (await once(daemon, "exit")) as [number | null];
  assert.equal(firstExit, 0, "5.0.2 hands over and exits 0");
  const deadline = Date.now() + 120_000;
  while (!reports.some((r) => r.component === "updater") && Date.now() < deadline) await sleep(200);
  assert.deepEqual(
    reports.map((r) => [r.component, r.status, (r.to as { version: string }).version]),
    [["updater", "updated", "5.0.4"]],
  );
  assert.equal(await trial(), null);
  assert.equal(await slotVersion("active"), "5.0.4");
  // the new daemon runs on: stop it as systemd would
  const status = JSON.parse((await launch("status", "--config", host.configFile, "--json")).stdout);
  assert.equal(status.updater.running_version, "5.0.4");
  const pid = status.daemon?.pid as number;
  assert.ok(pid > 0 && pid !== daemon.pid, `a new daemon runs (${JSON.stringify(status.daemon)})`);
  process.kill(pid, "SIGTERM");
  while (Date.now() < deadline && alive(pid)) await sleep(100);
  assert.equal(alive(pid), false, "the new daemon stopped on SIGTERM");
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("under systemd the daemon exits 99 for the unit to start the new release, and starts nothing itself", {
  skip: PYTHON_SKIP,
  timeout: 300_000,
}, async () => {
  await publishUpdater(
    await variantOfV2("decnet-updater-5.0.6.tar.gz", { version: V6.version }),
    V6,
  );
  const daemon = startDaemon(UNDER_SYSTEMD);
  const [code] = (await once(daemon, "exit")) as [number | null];
  assert.equal(code, 99);
  assert.equal(await slotVersion("active"), "5.0.6");
  assert.equal(await trial(), "0\n", "installed on trial, not started yet");
  const status = JSON.parse((await launch("status", "--config", host.configFile, "--json")).stdout);
  assert.equal(status.daemon, null, "no daemon was started behind systemd's back");
  // what systemd's RestartForceExitStatus=99 does next: start it through the launcher, here
  // while the master's feeds are down: a release that has not fetched and verified a manifest
  // itself does not commit (broken networking looks the same from inside)
  reports.length = 0;
  feedsDown = true;
  try {
    const restarted = await update();
    assert.equal(restarted.code, 1, "DECNET's cycle failed: the feed answered 503");
    assert.match(restarted.json.error, /manifest .*: HTTP 503/);
  } finally {
    feedsDown = false;
  }
  assert.equal(await trial(), "1\n", "not committed: start 1 of 3 used");
  assert.equal(reports.length, 0);
  // the master is back: systemd's next start commits, at start, even for a daemon told
  // not to check at start (a trial left to the first cron slot could be rolled back by restarts)
  const dropIns = `${host.configFile}.d`;
  await mkdir(dropIns, { recursive: true });
  await writeFile(
    join(dropIns, "90-quiet-start.toml"),
    '[schedule]\nrun_on_start = false\ncron = "0 3 1 1 *"\n',
  );
  const restarted = startDaemon(UNDER_SYSTEMD);
  try {
    const deadline = Date.now() + 60_000;
    while (!reports.some((r) => r.component === "updater") && Date.now() < deadline)
      await sleep(200);
    assert.equal(await trial(), null, "committed");
    assert.deepEqual(
      reports.map((r) => [r.component, r.status, (r.to as { version: string }).version]),
      [["updater", "updated", "5.0.6"]],
    );
    restarted.kill("SIGTERM");
    const [stopped] = (await once(restarted, "exit")) as [number | null];
    assert.equal(stopped, 0, "the committed daemon runs on until SIGTERM");
  } finally {
    if (restarted.exitCode === null) restarted.kill("SIGKILL");
    await rm(dropIns, { recursive: true, force: true });
  }
});
