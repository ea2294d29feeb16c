/**
 * The daemon as systemd would run it: a real `decnet-updater run` process
 * with a seconds-level cron, a release published after it started, a second
 * daemon refused, and SIGTERM ending it with exit 0.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { hostPhaseMs } from "../../src/daemon/phase.js";
import { REPO, runCli } from "../helpers/cli.js";
import { type Host, health, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { makeSigner, type Signer } from "../helpers/feed.js";
import { startMtlsServer, staticDir, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { publishSpec } from "../helpers/release.js";

const SHA1 = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";

let root: string;
let pki: Pki;
let signer: Signer;
let server: TestServer;
let host: Host;

before(async () => {
  if (PYTHON_SKIP) return;
  root = await mkdtemp(join(tmpdir(), "du-daemon-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "keys"));
  await mkdir(join(root, "feed"));
  server = await startMtlsServer(pki, staticDir(join(root, "feed")));
  host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`, {
    extra: {
      schedule: { cron: "*/2 * * * * *", splay_s: 0, run_on_start: true },
      log: { level: "info" },
    },
  });
});
after(async () => {
  if (host) await killAgent(host.installDir);
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("decnet-updater run", { skip: PYTHON_SKIP }, () => {
  test("installs a release published after it started, refuses a second daemon, exits 0 on SIGTERM", async () => {
    const daemon = spawn(
      process.execPath,
      ["--import", "tsx", resolve(REPO, "src/cli/main.ts"), "run", "--config", host.configFile],
      {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    daemon.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    const exited = new Promise<number | null>((resolveExit) =>
      daemon.on("exit", (code) => resolveExit(code)),
    );
    try {
      for (let i = 0; i < 100 && !stdout.includes("Daemon started."); i++) await sleep(100);
      assert.match(stdout, /"msg":"Daemon started\."/);

      const second = await runCli(["run", "--config", host.configFile]);
      assert.equal(second.code, 75, second.stderr);
      assert.match(second.stderr, new RegExp(`daemon\\.lock \\(pid ${daemon.pid}\\)`));

      // the feed is empty so far: cycles fail and the daemon keeps going
      await sleep(2500);
      assert.match(stdout, /Cycle failed: manifest .*: HTTP 404/);
      await publishSpec(join(root, "build"), join(root, "feed"), signer.keyFile, {
        version: "1.0.0",
        sha: SHA1,
      });
      let answer = null;
      for (let i = 0; i < 120 && answer?.sha !== SHA1; i++) {
        await sleep(500);
        answer = await health(pki, host.port);
      }
      assert.equal(answer?.sha, SHA1, stdout.slice(-2000));
      for (let i = 0; i < 100 && !stdout.includes("Cycle ended: updated."); i++) await sleep(100);
      assert.match(stdout, /"step":"probe"/);
      // every line on stdout is a pino JSON line with constant keys
      for (const line of stdout.trim().split("\n"))
        assert.equal(typeof JSON.parse(line).msg, "string");

      // `status` (another process) sees the daemon and its next check
      const during = await runCli(["status", "--json", "--config", host.configFile]);
      assert.equal(during.code, 0, during.stderr);
      const daemonInfo = JSON.parse(during.stdout).daemon;
      assert.equal(daemonInfo.pid, daemon.pid);
      const nextMs = Date.parse(daemonInfo.next_check) - Date.now();
      assert.ok(
        nextMs > -3000 && nextMs <= 3000,
        `next_check ${daemonInfo.next_check} is not within the 2 s cron`,
      );
      const humanStatus = await runCli(["status", "--config", host.configFile]);
      assert.match(
        humanStatus.stdout,
        new RegExp(`^daemon: running \\(pid ${daemon.pid}, since .*\\), next check 20\\d\\d-`, "m"),
      );

      // SIGHUP with a valid change: the new schedule is used
      const good = await readFile(host.configFile, "utf8");
      await writeFile(host.configFile, good.replace('"*/2 * * * * *"', '"*/3 * * * * *"'));
      daemon.kill("SIGHUP");
      for (let i = 0; i < 50 && !stdout.includes("Configuration reloaded."); i++) await sleep(100);
      assert.match(stdout, /"cron":"\*\/3 \* \* \* \* \*","msg":"Configuration reloaded\."/);

      // SIGHUP with a broken file: logged, the running configuration is kept
      await writeFile(host.configFile, `${good}\n[schedule]\ncron = "61 * * * *"\n`);
      daemon.kill("SIGHUP");
      for (let i = 0; i < 50 && !stdout.includes("Reload refused"); i++) await sleep(100);
      assert.match(
        stdout,
        /Reload refused, keeping the running configuration: config .*updater\.toml: /,
      );
      await writeFile(host.configFile, good);

      const started = Date.now();
      daemon.kill("SIGTERM");
      assert.equal(await exited, 0, stdout.slice(-2000));
      assert.ok(Date.now() - started < 20_000);
      const afterStop = await runCli(["status", "--json", "--config", host.configFile]);
      assert.equal(JSON.parse(afterStop.stdout).daemon, null);
      await assert.rejects(readFile(join(host.stateDir, "daemon.json")), { code: "ENOENT" });
    } finally {
      daemon.kill("SIGKILL");
    }
  });

  test("each check waits this host's fixed phase after its cron slot", async () => {
    // every 4 s with a 3 s splay: the phase comes from host_id, the same at every slot;
    // an empty feed, so every cycle fails at once and nothing is installed
    const phased = await writeHostConfig(
      join(root, "phased"),
      pki,
      signer,
      `${server.url}/empty/`,
      {
        extra: {
          schedule: { cron: "*/4 * * * * *", splay_s: 3, run_on_start: false },
          log: { level: "info" },
        },
      },
    );
    const expectedMs = hostPhaseMs("e2e-host", 3000);
    const daemon = spawn(
      process.execPath,
      ["--import", "tsx", resolve(REPO, "src/cli/main.ts"), "run", "--config", phased.configFile],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    daemon.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    try {
      const cycles = () =>
        stdout
          .split("\n")
          .filter((line) => line.includes('"msg":"Cycle failed'))
          .map((line) => Date.parse(JSON.parse(line).time));
      for (let i = 0; i < 150 && cycles().length < 2; i++) await sleep(100);
      const times = cycles();
      assert.ok(times.length >= 2, stdout.slice(-2000));
      for (const at of times) {
        // a cycle starts its phase after a slot (a multiple of 4 s), give or take the cycle's own start
        const intoSlot = at % 4000;
        assert.ok(
          intoSlot >= expectedMs && intoSlot < expectedMs + 900,
          `cycle at ${new Date(at).toISOString()} is ${intoSlot} ms into its slot, expected ${expectedMs} ms`,
        );
      }
      const status = JSON.parse(
        (await runCli(["status", "--json", "--config", phased.configFile])).stdout,
      );
      assert.equal(status.daemon.phase_s, expectedMs / 1000);
      assert.equal(Date.parse(status.daemon.next_check) % 4000, expectedMs);
    } finally {
      daemon.kill("SIGKILL");
    }
  });
});
