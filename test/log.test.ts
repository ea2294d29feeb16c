/**
 * Logs: JSON lines for the journal, one readable line per event on a
 * terminal, and never a key, a certificate or a manifest body in either.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger, type LogFormat, logFormatFor } from "../src/log.js";
import { REPO } from "./helpers/cli.js";
import { writeToml } from "./helpers/config.js";

const PEM =
  "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFAKEFAKEFAKE\n-----END PRIVATE KEY-----";

function capture(format: LogFormat): {
  lines: () => string[];
  log: ReturnType<typeof createLogger>;
} {
  const sink = new PassThrough();
  let text = "";
  sink.setEncoding("utf8").on("data", (chunk) => {
    text += chunk;
  });
  return { log: createLogger("info", sink, format), lines: () => text.trim().split("\n") };
}

function logSecrets(log: ReturnType<typeof createLogger>): void {
  log.info({ step: "download", ms: 812, sha: "a9a86c94", version: "1.2.1" }, "Step done.");
  log.info({ key: PEM, cert: PEM, manifest: '{"schema":1}', tls: { key: PEM } }, "Secrets.");
}

test("json: one parseable line per event with the constant keys, secrets censored", () => {
  const { log, lines } = capture("json");
  logSecrets(log);
  const [step, secrets] = lines().map((line) => JSON.parse(line));
  assert.equal(step.msg, "Step done.");
  assert.deepEqual(
    [step.step, step.ms, step.sha, step.version],
    ["download", 812, "a9a86c94", "1.2.1"],
  );
  assert.deepEqual(
    [secrets.key, secrets.cert, secrets.manifest, secrets.tls.key],
    ["[redacted]", "[redacted]", "[redacted]", "[redacted]"],
  );
  assert.doesNotMatch(lines().join("\n"), /PRIVATE KEY|FAKEFAKE|schema/);
});

test("pretty: one readable line per event, secrets censored as well", () => {
  const { log, lines } = capture("pretty");
  logSecrets(log);
  const output = lines();
  assert.equal(output.length, 2, output.join("\n"));
  assert.match(
    output[0] ?? "",
    /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO: Step done\. \{"step":"download","ms":812,"sha":"a9a86c94","version":"1\.2\.1"\}$/,
  );
  assert.match(output[1] ?? "", /"key":"\[redacted\]"/);
  assert.doesNotMatch(output.join("\n"), /PRIVATE KEY|FAKEFAKE|schema/);
});

test("the format follows the destination: a terminal gets pretty, anything else JSON, unless overridden", () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const pipe = new PassThrough();
  assert.equal(logFormatFor(tty, undefined), "pretty");
  assert.equal(logFormatFor(pipe, undefined), "json");
  assert.equal(logFormatFor(tty, "json"), "json");
  assert.equal(logFormatFor(pipe, "pretty"), "pretty");
  assert.equal(logFormatFor(pipe, "fancy"), "json");
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "du-log-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("`run` on a real pseudo-terminal (script(1)) prints readable lines, not JSON", async (t) => {
  const script = "/usr/bin/script";
  if (!(await import("node:fs")).existsSync(script)) {
    t.skip("needs script(1) from Debian's bsdutils to open a pseudo-terminal");
    return;
  }
  const config = await writeToml(dir, "updater.toml", {
    host_id: "tty-host",
    install_dir: join(dir, "opt"),
    state_dir: join(dir, "state"),
    feed: {
      url: "http://127.0.0.1:9/",
      trusted_keys: ["RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"],
    },
    schedule: { run_on_start: false, cron: "0 0 1 1 *" },
  });
  const main = resolve(REPO, "src/cli/main.ts");
  const child = spawn(
    script,
    ["-qefc", `"${process.execPath}" --import tsx "${main}" run --config "${config}"`, "/dev/null"],
    {
      cwd: REPO,
      env: { ...process.env, DECNET_UPDATER_LOG_FORMAT: undefined, NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    },
  );
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolveExit) => child.on("exit", resolveExit));
  try {
    for (let i = 0; i < 150 && !output.includes("Daemon started."); i++) await sleep(100);
    assert.match(
      output,
      /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO: Daemon started\. \{"cron":"0 0 1 1 \*"/m,
    );
    assert.doesNotMatch(output, /^\{"level"/m);
  } finally {
    process.kill(-(child.pid as number), "SIGTERM");
    await exited;
  }
});
