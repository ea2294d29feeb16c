/**
 * Issue 15, points 7-12: the host's files against attacker (c), a release
 * author (careless: a checkout with odd modes; or malicious), and (d), an
 * unprivileged local user on the host. Each refusal is asserted exactly,
 * with what is on disk before and after.
 */
import assert from "node:assert/strict";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runRollback } from "../../src/agent/rollback.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { acquireLock } from "../../src/state/lock.js";
import { runCli, runProcess } from "../helpers/cli.js";
import { writeToml } from "../helpers/config.js";
import { agentDeps } from "../helpers/deps.js";
import { killAgent, writeHostConfig } from "../helpers/e2e.js";
import { feedOfTarball, loadAgentConfig, makeSigner, runningHost } from "../helpers/feed.js";
import { startMtlsServer, staticDir, staticFiles } from "../helpers/mtls-server.js";
import { makePki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec } from "../helpers/release.js";
import { snapshot } from "../helpers/snapshot.js";
import { type RawEntry, tarGz } from "../helpers/tarball.js";
import { tempDir } from "../helpers/tmp.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

const ROOT_SKIP =
  process.getuid?.() === 0 ? false : "needs root (chown to another user); CI runs as root";
const PUB = join(import.meta.dirname, "../fixtures/minisign/trusted.pub");

const mode = async (path: string) => ((await lstat(path)).mode & 0o7777).toString(8);

/** A host running 1.0.0 whose feed serves `entries` as 2.0.0; fast: no real venv. */
async function hostWithRelease(
  t: Parameters<typeof tempDir>[0],
  entries: RawEntry[],
  extra: Record<string, unknown> = {},
) {
  const dir = await tempDir(t, "du-sec-files-");
  const pki = makePki(dir);
  const signer = await makeSigner(join(dir, "key"));
  const files = feedOfTarball(signer, tarGz(entries));
  const server = await startMtlsServer(pki, (req, res) => staticFiles(files)(req, res));
  t.after(() => server.close());
  const dirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
    limits: { max_updates_per_day: 100 },
    ...extra,
  } as never);
  return { dir, dirs, server };
}

describe("attacker (c): a release author's modes and contents", () => {
  test("point 7: no file or folder the agent creates is writable by group or others, whatever the archive says", {
    skip: PYTHON_SKIP,
  }, async (t) => {
    const dir = await tempDir(t, "du-sec-modes-");
    const pki = makePki(dir);
    const signer = await makeSigner(join(dir, "keys"));
    const feedDir = join(dir, "feed");
    const server = await startMtlsServer(pki, staticDir(feedDir));
    t.after(() => server.close());
    const host = await writeHostConfig(join(dir, "host"), pki, signer, `${server.url}/`);
    t.after(() => killAgent(host.installDir));
    await publishSpec(join(dir, "build"), feedDir, signer.keyFile, {
      version: "1.0.0",
      sha: "7777777777777777777777777777777777777777",
      oddModes: true,
      units: { "decnet-agent.service": "[Service]\nExecStart=/bin/true\n" },
    });
    const result = await runCli(["update", "--config", host.configFile, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const active = join(host.installDir, "releases/active");
    assert.equal(await mode(join(active, "wheels")), "755");
    assert.equal(await mode(join(active, "etc/systemd/system")), "755");
    assert.equal(await mode(join(active, "README")), "644");
    assert.equal(await mode(join(active, "bin/run")), "755"); // 04777 in the archive
    assert.equal(await mode(join(host.unitsDir, "decnet-agent.service")), "644");
    await assertTrustedTree(host.installDir, host.stateDir, host.unitsDir);
  });

  test("point 11: nothing in a release runs before install.command: a venv.py at its root is never imported", {
    skip: PYTHON_SKIP,
  }, async (t) => {
    const marker = join(await tempDir(t, "du-sec-venvpy-"), "imported");
    const { dirs } = await hostWithRelease(
      t,
      [{ path: "venv.py", body: `open(${JSON.stringify(marker)}, "w").write("ran as root")\n` }],
      { install: { python: "python3", command: ["false"] } },
    );
    const install = await snapshot(dirs.installDir);
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_INSTALL");
    assert.equal(result.error, "install.command (false): exit 1");
    await assert.rejects(stat(marker), { code: "ENOENT" });
    assert.deepEqual(await snapshot(dirs.installDir), install);
  });

  for (const allow of [["decnet-*.service"], ["*.service"], ["decnet-updater*"]]) {
    test(`point 12: the updater's own unit is never a release's to replace (units.allow = ${JSON.stringify(allow)})`, async (t) => {
      const unitsDir = join(await tempDir(t, "du-sec-units-"), "units");
      await mkdir(unitsDir);
      await writeFile(join(unitsDir, "decnet-updater.service"), "[Service]\nExecStart=/hardened\n");
      const { dirs } = await hostWithRelease(
        t,
        [
          {
            path: "etc/systemd/system/decnet-updater.service",
            body: "[Service]\nExecStart=/evil\n",
          },
          { path: "etc/systemd/system/decnet-agent.service", body: "[Service]\nExecStart=/ok\n" },
        ],
        { units: { dir: unitsDir, allow } },
      );
      const before = await snapshot(unitsDir);
      const install = await snapshot(dirs.installDir);
      const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
      assert.equal(result.code, "E_UNITS");
      assert.equal(
        result.error,
        "release ships unit decnet-updater.service: the updater's own units are never a release's to install (units.allow cannot allow them)",
      );
      assert.deepEqual(await snapshot(unitsDir), before);
      assert.deepEqual(await snapshot(dirs.installDir), install);
    });
  }
});

describe("attacker (d): an unprivileged local user on the host", () => {
  test("point 9: the launcher runs nothing from an install dir others can write, and only run and update move slots", async (t) => {
    const updater = join(await tempDir(t, "du-sec-launcher-"), "updater");
    const marker = join(updater, "..", "ran");
    await mkdir(join(updater, "releases/prev/dist/src/cli"), { recursive: true });
    await writeFile(
      join(updater, "releases/prev/dist/src/cli/main.js"),
      `#!/bin/sh\necho "$@" >> ${marker}\n`,
      { mode: 0o755 },
    );
    await symlink("releases/active", join(updater, "current"));
    const launcher = join(import.meta.dirname, "../../launcher/decnet-updater-launch");
    const launch = (...args: string[]) =>
      runProcess("sh", [launcher, ...args], {
        env: { ...process.env, DECNET_UPDATER_INSTALL_DIR: updater },
      });
    // `active` is missing (a flip back cut short): `status` leaves it, `run` finishes it
    const status = await launch("status");
    assert.notEqual(status.code, 0);
    await stat(join(updater, "releases/prev"));
    assert.equal((await launch("run")).code, 0);
    assert.equal(await readFile(marker, "utf8"), "run\n");
    await assert.rejects(stat(join(updater, "releases/prev")), { code: "ENOENT" });

    // a symlinked install dir is judged where it points, as the program judges it
    const linked = join(updater, "..", "linked");
    await symlink(updater, linked);
    const viaLink = await runProcess("sh", [launcher, "run"], {
      env: { ...process.env, DECNET_UPDATER_INSTALL_DIR: linked },
    });
    assert.equal(viaLink.code, 0, viaLink.stderr);
    assert.equal(await readFile(marker, "utf8"), "run\nrun\n");

    // a trial that failed: never back into a slot someone else could have changed
    await mkdir(join(updater, "releases/prev/open"), { recursive: true });
    await chmod(join(updater, "releases/prev/open"), 0o777);
    await writeFile(join(updater, "trial"), "3\n");
    const back = await launch("run");
    assert.equal(back.code, 1);
    assert.equal(
      back.stderr,
      `decnet-updater-launch: not going back to ${updater}/releases/prev: ${updater}/releases/prev/open is writable by group or others\n`,
    );
    assert.equal(await readFile(join(updater, "trial"), "utf8"), "3\n");
    await rm(join(updater, "trial"));

    await chmod(updater, 0o777);
    const refused = await launch("run");
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `decnet-updater-launch: ${updater}: owner uid and mode ${process.getuid?.()} 777; it must be root's and writable by nobody else\n`,
    );
    assert.equal(await readFile(marker, "utf8"), "run\nrun\n", "nothing ran");
  });

  test("point 8: nobody but root can enter a release or its venv while it is being built", async (t) => {
    const seen = join(await tempDir(t, "du-sec-staging-"), "modes");
    const { dirs } = await hostWithRelease(
      t,
      [{ path: "wheels/" }, { path: "README", body: "x" }],
      {
        // `true` as python: the venv folder is made by the agent, nothing else
        install: {
          python: "true",
          command: ["sh", "-c", `stat -c %a {release} {venv} > ${seen}; exit 1`],
        },
      },
    );
    const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(result.code, "E_INSTALL");
    assert.equal(await readFile(seen, "utf8"), "700\n700\n");
  });

  test("point 8: a symlink where the agent keeps a folder (releases/, downloads/) is refused before anything", async (t) => {
    for (const [where, key] of [
      ["opt/decnet/releases", "install_dir"],
      ["var/lib/decnet-updater/downloads", "state_dir"],
    ] as const) {
      const { dirs, dir } = await hostWithRelease(t, [{ path: "README", body: "x" }]);
      const outside = join(dir, "outside");
      await mkdir(outside);
      const path = join(dir, where);
      await mkdir(join(path, ".."), { recursive: true });
      if (where.endsWith("releases")) {
        const { rename } = await import("node:fs/promises");
        await rename(path, join(outside, "releases"));
        await symlink(join(outside, "releases"), path);
      } else await symlink(outside, path);
      const before = await snapshot(dir);
      await assert.rejects(runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false }), {
        code: "E_UNSAFE_PATH",
        message: `${key} ${path}: a symlink where the agent keeps a folder of its own; the agent writes there as root, so nobody else may be able to change it`,
      });
      assert.deepEqual(await snapshot(dir), before);
    }
  });

  test("point 8: a slot left by an older updater with world-writable folders is never rolled back to, nor its units read", async (t) => {
    const { dirs, dir } = await hostWithRelease(t, [{ path: "README", body: "x" }]);
    const victim = join(dir, "root-only");
    await writeFile(victim, "root's secret\n", { mode: 0o600 });
    const prev = join(dirs.installDir, "releases/prev");
    const unitsIn = join(prev, "etc/systemd/system");
    await mkdir(unitsIn, { recursive: true });
    await writeFile(
      join(prev, ".decnet-release.json"),
      JSON.stringify({
        sha: "0900000cccc",
        version: "0.9.0",
        installed_at: "2026-01-01T00:00:00Z",
      }),
    );
    for (const folder of ["etc", "etc/systemd", "etc/systemd/system"])
      await chmod(join(prev, folder), 0o777);
    // what a local user planted in the open folder: a unit that is a link to root's file
    await symlink(victim, join(unitsIn, "decnet-x.service"));
    await mkdir(join(dirs.installDir, "venvs/0900000cccc"), { recursive: true });
    const unitsDir = join(dir, "units");
    await mkdir(unitsDir);
    const config = { ...(await loadAgentConfig(dirs)) };
    config.units = { ...config.units, dir: unitsDir };
    const before = [await snapshot(dirs.installDir), await snapshot(unitsDir)];
    await assert.rejects(runRollback(config, agentDeps()), {
      code: "E_UNSAFE_PATH",
      message: `releases/prev ${prev}: ${join(prev, "etc")} is owned by uid ${process.getuid?.()}, group ${process.getgid?.()}, with mode 0777, so someone else may have changed it (left by an older updater? check it, then chown -R root: and chmod -R go-w ${prev}); the agent trusts it as root, so nobody else may be able to change it`,
    });
    assert.deepEqual([await snapshot(dirs.installDir), await snapshot(unitsDir)], before);
    await assert.rejects(stat(join(unitsDir, "decnet-x.service")), { code: "ENOENT" });
  });

  test("point 9: a state dir owned by another user is refused, one line naming it, its owner and mode", {
    skip: ROOT_SKIP,
  }, async (t) => {
    const dir = await tempDir(t, "du-sec-trust-");
    const stateDir = join(dir, "state");
    await mkdir(stateDir, { mode: 0o700 });
    await chown(stateDir, 65534, 65534);
    await writeFile(join(stateDir, "state.json"), '{"schema":1,"highest_serial":1}\n');
    const config = await writeToml(dir, "updater.toml", {
      install_dir: join(dir, "opt"),
      state_dir: stateDir,
      units: { dir: join(dir, "units") },
      feed: { url: "http://127.0.0.1:9/", trusted_keys: [PUB] },
    });
    const before = await snapshot(dir);
    for (const command of ["update", "check", "rollback", "plan"]) {
      const result = await runCli([command, "--config", config]);
      assert.equal(result.code, 1, `${command}: ${result.stderr}`);
      assert.equal(
        result.stderr,
        `decnet-updater: state_dir ${stateDir}: owned by uid 65534 with mode 0700; expected owner uid 0 (the running user) and no write access for group or others; the agent writes there as root, so nobody else may be able to change it\n`,
      );
      assert.deepEqual(await snapshot(dir), before, `${command} changed nothing`);
    }
  });

  test("point 9: a state dir that does not exist yet, in a folder anyone may write (sticky /tmp), is refused", async (t) => {
    const dir = await tempDir(t, "du-sec-trust-");
    const missing = join(tmpdir(), `du-sec-missing-${process.pid}`);
    const config = await writeToml(dir, "updater.toml", {
      install_dir: join(dir, "opt"),
      state_dir: missing,
      units: { dir: join(dir, "units") },
      feed: { url: "http://127.0.0.1:9/", trusted_keys: [PUB] },
    });
    const result = await runCli(["check", "--config", config]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `^decnet-updater: state_dir ${missing}: does not exist, and the folder ${tmpdir()} it would be made in is writable by others \\(mode 1777, owner uid 0\\): anyone could make it first;`,
      ),
    );
    await assert.rejects(stat(missing), { code: "ENOENT" });
  });

  test("point 9: a group-writable install dir, and a parent writable by others, are refused; a sticky parent is fine", async (t) => {
    const dir = await tempDir(t, "du-sec-trust-");
    const base = {
      state_dir: join(dir, "state"),
      units: { dir: join(dir, "units") },
      feed: { url: "http://127.0.0.1:9/", trusted_keys: [PUB] },
    };
    await mkdir(join(dir, "opt"), { mode: 0o775 });
    await chmod(join(dir, "opt"), 0o775);
    let config = await writeToml(dir, "a.toml", { ...base, install_dir: join(dir, "opt") });
    let result = await runCli(["check", "--config", config]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `^decnet-updater: install_dir ${join(dir, "opt")}: owned by uid \\d+ with mode 0775; expected owner uid \\d+ \\(the running user\\) and no write access for group or others;`,
      ),
    );
    await mkdir(join(dir, "open/decnet"), { recursive: true });
    await chmod(join(dir, "open"), 0o777);
    config = await writeToml(dir, "b.toml", { ...base, install_dir: join(dir, "open/decnet") });
    result = await runCli(["check", "--config", config]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `^decnet-updater: install_dir ${join(dir, "open/decnet")}: the folder ${join(dir, "open")} on its path is writable by others and not sticky \\(mode 0777, owner uid \\d+\\);`,
      ),
    );
    await chmod(join(dir, "open"), 0o1777);
    result = await runCli(["check", "--config", config]);
    // past the directory check: the feed on port 9 is what fails now
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stderr, /install_dir/);
  });

  test("point 10: temp files never follow links: the lock, the download and the launcher's count", async (t) => {
    const dir = await tempDir(t, "du-sec-temp-");
    const victim = join(dir, "victim");
    await writeFile(victim, "root's secret\n", { mode: 0o600 });
    // the lock: the old temp name was .lock.<pid>.tmp
    const stateDir = join(dir, "state");
    await mkdir(stateDir, { mode: 0o700 });
    await symlink(victim, join(stateDir, `.lock.${process.pid}.tmp`));
    const lock = await acquireLock(stateDir);
    await lock.release();
    assert.equal(await readFile(victim, "utf8"), "root's secret\n");

    // the download: the old partial name was downloads/<sha256>.tar.gz.part
    const tarball = tarGz([{ path: "README", body: "x" }]);
    const { dirs } = await hostWithRelease(t, [{ path: "README", body: "x" }], {
      install: { python: "true", command: ["false"] },
    });
    const { createHash } = await import("node:crypto");
    const sha256 = createHash("sha256").update(tarball).digest("hex");
    await mkdir(join(dirs.stateDir, "downloads"), { recursive: true, mode: 0o700 });
    await symlink(victim, join(dirs.stateDir, `downloads/${sha256}.tar.gz.part`));
    await runUpdate(await loadAgentConfig(dirs), agentDeps(), { force: false });
    assert.equal(await readFile(victim, "utf8"), "root's secret\n");

    // the launcher's start count: the old temp name was <install_dir>/trial.tmp
    const updater = join(dir, "updater");
    await mkdir(join(updater, "releases/active/dist/src/cli"), { recursive: true });
    await writeFile(join(updater, "releases/active/dist/src/cli/main.js"), "#!/bin/sh\nexit 0\n", {
      mode: 0o755,
    });
    await symlink("releases/active", join(updater, "current"));
    await writeFile(join(updater, "trial"), "0\n");
    await symlink(victim, join(updater, "trial.tmp"));
    const launcher = join(import.meta.dirname, "../../launcher/decnet-updater-launch");
    const launched = await runProcess("sh", [launcher, "run"], {
      env: { ...process.env, DECNET_UPDATER_INSTALL_DIR: updater },
    });
    assert.equal(launched.code, 0, launched.stderr);
    assert.equal(await readFile(join(updater, "trial"), "utf8"), "1\n");
    assert.equal(await readFile(victim, "utf8"), "root's secret\n");
  });
});
