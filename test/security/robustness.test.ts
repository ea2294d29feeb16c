/**
 * Issue 15, points 13-18: attacker (e), an operator's config mistake, and
 * faults of the host: stale locks, stray outbox files, an agent that answers
 * without saying 200, config keys from Object's prototype, credentials in
 * install.command, and a disk too slow for the descriptors extraction holds.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { loadConfig } from "../../src/config/load.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { createHttpClient } from "../../src/http/tls.js";
import { createLogger } from "../../src/log.js";
import { probeHealth } from "../../src/pipeline/steps/probe.js";
import { runCommand } from "../../src/process/run-command.js";
import { acquireLock, processStartTime } from "../../src/state/lock.js";
import { runProcess } from "../helpers/cli.js";
import { agentDeps } from "../helpers/deps.js";
import {
  feedOfTarball,
  loadAgentConfig,
  makeSigner,
  manifestDoc,
  runningHost,
  signedFeed,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles, withReports } from "../helpers/mtls-server.js";
import { makePki } from "../helpers/pki.js";
import { tarBlocks, tarGz } from "../helpers/tarball.js";
import { tempDir } from "../helpers/tmp.js";

const BOOT = await readFile("/proc/sys/kernel/random/boot_id", "utf8").then(
  (text) => text.trim(),
  () => null,
);
const PROC_SKIP = BOOT ? false : "needs Linux /proc (pid start times and the boot id)";

function sleeper(t: { after: (fn: () => void) => void }) {
  const child = spawn("sleep", ["60"]);
  t.after(() => child.kill());
  return child.pid as number;
}

describe("point 13: a lock left by a dead process is taken over, also when its pid was reused or the host rebooted", {
  skip: PROC_SKIP,
}, () => {
  for (const [name, content] of [
    [
      "the pid now belongs to another process (another start time)",
      (pid: number) => `${pid} 1 ${BOOT}\n`,
    ],
    [
      "the host rebooted since (another boot id)",
      (pid: number) => `${pid} ${processStartTime(pid)} 00000000-dead-beef-0000-000000000000\n`,
    ],
    [
      "an older updater's lock (a pid only) now held by a process that is no decnet-updater",
      (pid: number) => `${pid}\n`,
    ],
  ] as const) {
    test(name, async (t) => {
      const dir = await tempDir(t);
      const pid = sleeper(t);
      await writeFile(join(dir, "lock"), content(pid));
      const lock = await acquireLock(dir);
      assert.match(
        await readFile(join(dir, "lock"), "utf8"),
        new RegExp(`^${process.pid} \\d+ ${BOOT}\\n$`),
      );
      await lock.release();
    });
  }

  test("four starters racing to take over one stale lock: exactly one wins, every time", async (t) => {
    const pids = [sleeper(t), sleeper(t), sleeper(t), sleeper(t)];
    for (let round = 0; round < 60; round++) {
      const dir = await tempDir(t);
      await writeFile(join(dir, "lock"), "999999999 1 00000000-dead-beef-0000-000000000000\n");
      const outcomes = await Promise.allSettled(pids.map((pid) => acquireLock(dir, pid)));
      const won = outcomes.filter((o) => o.status === "fulfilled");
      assert.equal(won.length, 1, `round ${round}: ${outcomes.map((o) => o.status).join(", ")}`);
      for (const lost of outcomes.filter((o) => o.status === "rejected"))
        assert.equal((lost as PromiseRejectedResult).reason.code, "E_LOCKED");
    }
  });

  test("a live holder (its pid, start time and boot) still holds it: E_LOCKED, exit 75 for a second instance", async (t) => {
    const dir = await tempDir(t);
    const pid = sleeper(t);
    await writeFile(join(dir, "lock"), `${pid} ${processStartTime(pid)} ${BOOT}\n`);
    await assert.rejects(acquireLock(dir), {
      code: "E_LOCKED",
      message: `another decnet-updater holds ${join(dir, "lock")} (pid ${pid})`,
    });
  });
});

describe("point 14: files in the outbox that are not reports", () => {
  test("are moved to outbox/rejected/ with one warning each and never stop the cycle; the real report is sent", async (t) => {
    const dir = await tempDir(t, "du-sec-outbox-");
    const pki = makePki(dir);
    const signer = await makeSigner(join(dir, "key"));
    const files = signedFeed(signer, manifestDoc({ latest: "1.0.0" }));
    const received: Array<{ id: string }> = [];
    const server = await startMtlsServer(pki, withReports(staticFiles(files), received).handler);
    t.after(() => server.close());
    const dirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
      feed: { report_url: `${server.url}/reports` },
    } as never);
    const outbox = join(dirs.stateDir, "outbox");
    await mkdir(outbox, { recursive: true });
    const id = "00000000-0000-4000-8000-00000000000a";
    await writeFile(
      join(outbox, `${id}.json`),
      JSON.stringify({ id, status: "failed", finished_at: "2026-11-01T00:00:00Z" }),
    );
    await writeFile(join(outbox, "stray-a.json"), "{}");
    await writeFile(join(outbox, "stray-b.json"), "[1,2]");
    await writeFile(join(outbox, "torn.json"), '{"id":');
    const sink = new PassThrough();
    const lines: string[] = [];
    sink.on("data", (chunk) => lines.push(...String(chunk).split("\n").filter(Boolean)));
    const result = await runUpdate(
      await loadAgentConfig(dirs),
      agentDeps({ log: createLogger("warn", sink, "json") }),
      { force: false },
    );
    assert.equal(result.status, "up_to_date");
    // the pending report, then this cycle's heartbeat (no report filed here yet: issue 18)
    assert.deepEqual(
      received.map((r) => [r.id === id ? id : "new", (r as { status?: string }).status]),
      [
        [id, "failed"],
        ["new", "current"],
      ],
    );
    assert.deepEqual((await readdir(outbox)).sort(), ["rejected"]);
    assert.deepEqual((await readdir(join(outbox, "rejected"))).sort(), [
      "stray-a.json",
      "stray-b.json",
      "torn.json",
    ]);
    const warnings = lines
      .map((line) => JSON.parse(line).msg as string)
      .filter((m) => m.startsWith("Moved "));
    assert.deepEqual(warnings.sort(), [
      "Moved stray-a.json out of the outbox: it is not a report (its id does not match its file name).",
      "Moved stray-b.json out of the outbox: it is not a report (not a JSON object).",
      "Moved torn.json out of the outbox: it is not a report (not valid JSON).",
    ]);
  });
});

describe("point 15: only HTTP 200 is healthy", () => {
  for (const status of [202, 204, 304]) {
    test(`an agent answering ${status} is not healthy`, async (t) => {
      const dir = await tempDir(t);
      const pki = makePki(dir);
      const server = await startMtlsServer(pki, (_req, res) => res.writeHead(status).end());
      t.after(() => server.close());
      const client = await createHttpClient(
        { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, keyPrefix: "probe" },
        { timeoutMs: 2000 },
      );
      t.after(() => client.close());
      const result = await probeHealth({
        client,
        url: `${server.url}/health`,
        attempts: 2,
        backoffMs: 10,
        soakMs: 0,
        identity: "if-present",
        expect: { sha: "abc", version: "1.0.0" },
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        monotonicMs: () => performance.now(),
        log: { info: () => undefined },
      });
      assert.equal(result.healthy, false);
      assert.equal(
        result.detail,
        `unhealthy after 2 probes (2 x 0.01 s): probe ${server.url}/health: HTTP ${status}, expected 200`,
      );
    });
  }
});

describe("point 16: config keys are own keys", () => {
  const PUB = join(import.meta.dirname, "../fixtures/minisign/trusted.pub");
  const base = [
    "[feed]",
    'url = "https://m.example/"',
    ...["ca", "cert", "key"].map((key) => `${key} = ${JSON.stringify(PUB)}`),
    `trusted_keys = [${JSON.stringify(PUB)}]`,
    "",
  ].join("\n");
  for (const [where, toml, key] of [
    ["at the top", `constructor = "x"\n${base}`, "constructor"],
    ["in a table", `${base}toString = "x"\n`, "feed.toString"],
    ["as __proto__ at the top", `__proto__ = "x"\n${base}`, "__proto__"],
    ["as __proto__ in a table", `${base}[pin]\n__proto__ = "x"\n`, "pin.__proto__"],
    [
      "as a table named like a prototype key",
      `${base}[hasOwnProperty]\nx = 1\n`,
      "hasOwnProperty.x",
    ],
  ] as const) {
    test(`${where}: ${key} is an unknown key (one line, exit 1)`, async (t) => {
      const file = join(await tempDir(t), "updater.toml");
      await writeFile(file, toml);
      await assert.rejects(loadConfig(file), (error: Error & { code?: string }) => {
        assert.equal(error.code, "E_CONFIG");
        assert.match(
          error.message,
          new RegExp(
            `^config ${file}: key ${key.replace(/[.$]/g, "\\$&")}: expected (one of|a known section).*, found an unknown key$`,
          ),
        );
        return true;
      });
    });
  }
});

describe("point 17: secrets in install.command never leave the host", () => {
  test("no password, token or credential URL in the error, the report, state.json or a log line", async (t) => {
    const secret = "s3cr3t-pa55";
    const token = "tok-0123456789abcdef";
    const index = `https://deploy:${secret}@pypi.internal.example/simple`;
    const dir = await tempDir(t, "du-sec-secret-");
    const pki = makePki(dir);
    const signer = await makeSigner(join(dir, "key"));
    const files = feedOfTarball(signer, tarGz([{ path: "README", body: "x" }]));
    const received: unknown[] = [];
    const server = await startMtlsServer(pki, withReports(staticFiles(files), received).handler);
    t.after(() => server.close());
    const dirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
      feed: { report_url: `${server.url}/reports` },
      install: {
        python: "true",
        // pip's way of failing, quoting what it was given
        command: [
          "sh",
          "-c",
          `echo "ERROR: Could not find a version (from ${index}) Authorization: Bearer ${token} api_key=${token}" >&2; exit 1`,
          "--index-url",
          index,
          `--token=${token}`,
        ],
      },
    } as never);
    const sink = new PassThrough();
    let logged = "";
    sink.on("data", (chunk) => {
      logged += chunk;
    });
    const result = await runUpdate(
      await loadAgentConfig(dirs),
      agentDeps({ log: createLogger("debug", sink, "json") }),
      { force: false },
    );
    assert.equal(result.code, "E_INSTALL");
    assert.equal(result.error, "install.command (sh): exit 1");
    assert.match(result.stderr ?? "", /from https:\/\/\*\*\*@pypi\.internal\.example\/simple/);
    const everything = [
      JSON.stringify(result),
      JSON.stringify(received),
      await readFile(join(dirs.stateDir, "state.json"), "utf8"),
      logged,
    ].join("\n");
    assert.doesNotMatch(everything, new RegExp(`${secret}|${token}`));
  });
});

describe("point 17: the stderr tail is redacted whole", () => {
  test("a credential URL cut by the 8 KiB tail (its scheme gone) does not survive in what is kept", async () => {
    // 31 bytes of the URL after "https://deploy:" and 8161 of filler: the tail starts inside the URL
    const script =
      "{ printf 'https://deploy:'; printf 's3cr3t-pa55@idx.example/simple '; head -c 8161 /dev/zero | tr '\\0' x; } >&2; exit 1";
    const outcome = await runCommand(["sh", "-c", script], { cwd: "/", timeoutMs: 10_000 });
    assert.equal(outcome.ok, false);
    assert.doesNotMatch(outcome.stderrTail, /s3cr3t/);
    assert.match(outcome.stderrTail, /^\[\.\.\.\] x+$/);
  });
});

describe("point 18: extraction keeps a bounded number of files open", () => {
  test("4,000 small files extract under a limit of 120 descriptors", async (t) => {
    const dir = await tempDir(t, "du-sec-fds-");
    const entries = Array.from({ length: 4000 }, (_, i) => ({ path: `f/${i}`, body: "" }));
    const tarball = join(dir, "release.tar.gz");
    await writeFile(tarball, gzipSync(tarBlocks(entries)));
    const script = resolve(import.meta.dirname, "../fixtures/extract/extract-release.ts");
    const result = await runProcess(
      "prlimit",
      ["--nofile=120", process.execPath, "--import", "tsx", script, tarball, join(dir, "staging")],
      { env: process.env },
    );
    assert.equal(result.code, 0, result.stderr);
    const outcome = JSON.parse(result.stdout);
    assert.equal(outcome.ok, true, outcome.message);
    assert.equal(outcome.entries, 4000);
    assert.equal((await readdir(join(dir, "staging/f"))).length, 4000);
  });
});
