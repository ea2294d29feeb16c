/**
 * `npm run demo`: the whole cycle on this machine, narrated.
 *
 * A throwaway master (a CA and certificates made with openssl, a minisign key
 * from `decnet-updater keygen`, a feed served over mTLS by node:https, and
 * `decnet-updater receive` storing the host's reports in its embedded
 * SQLite) and a throwaway host (install dir, state dir, a config in process
 * mode) under one temp folder. The master publishes v1, v2 and a broken v3
 * with `decnet-updater publish`; the host runs `decnet-updater update` after
 * each, as its timer would; the demo ends with `decnet-updater fleet`, the
 * master's view of it. Everything is the real CLI in a subprocess; the toy
 * DECNET agent is a real wheel installed offline into a real venv, serving
 * /health over mTLS.
 *
 * It borrows the end-to-end tests' helpers (test/helpers): the demo is the
 * world those tests build, narrated, and sharing it keeps the two honest.
 *
 * Needs: openssl, python3 with venv. Leaves nothing running; pass --keep to
 * keep the folder for a look around.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../test/helpers/cli.js";
import { type Host, health, killAgent, writeHostConfig } from "../test/helpers/e2e.js";
import { startMtlsServer, staticDir } from "../test/helpers/mtls-server.js";
import { makePki } from "../test/helpers/pki.js";
import { PYTHON_SKIP } from "../test/helpers/python.js";
import { receiverToml, type SpawnedReceiver, spawnReceiver } from "../test/helpers/receiver.js";
import { buildReleaseTarball, type ReleaseSpec } from "../test/helpers/release.js";

const keep = process.argv.includes("--keep");
const say = (line = "") => process.stdout.write(`${line}\n`);
const short = (sha: string | undefined) => (sha ? sha.slice(0, 7) : "none");

interface StoredReport {
  status: string;
  from_version: string | null;
  to_version: string | null;
  error: string | null;
}

function preflight(): void {
  const missing: string[] = [];
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    missing.push("openssl (apt-get install openssl)");
  }
  if (PYTHON_SKIP) missing.push("python3 with venv (apt-get install python3-venv)");
  if (missing.length) {
    process.stderr.write(`demo: needs ${missing.join(" and ")}\n`);
    process.exit(1);
  }
}

async function main(): Promise<number> {
  preflight();
  const root = await mkdtemp(join(tmpdir(), "decnet-demo-"));
  let host: Host | undefined;
  let receiver: SpawnedReceiver | undefined;
  await mkdir(join(root, "master/feed"), { recursive: true });
  const pki = makePki(join(root, "master"));
  const server = await startMtlsServer(pki, staticDir(join(root, "master/feed")));
  try {
    say(`decnet-updater demo: a master and a host on this machine, in ${root}`);
    say();
    const keys = join(root, "master/keys");
    const keygen = await runCli(["keygen", "--out", keys]);
    if (keygen.code !== 0) throw new Error(`keygen failed: ${keygen.stderr}`);
    const signer = {
      keyFile: join(keys, "minisign.key"),
      // line 2 of the .pub file is what feed.trusted_keys takes
      pubLine: ((await readFile(join(keys, "minisign.pub"), "utf8")).split("\n")[1] ?? "").trim(),
    };
    say("master  keys: decnet-updater keygen --out master/keys (minisign format)");
    say(
      `master  feed: https://127.0.0.1:${server.port}/ (mTLS: hosts need a certificate from the demo CA)`,
    );
    // the receiver: mTLS itself, SQLite in master/state, the fleet's page on loopback
    const receiverConfig = join(root, "master/receiver.toml");
    await writeFile(receiverConfig, receiverToml(join(root, "master"), pki, { mode: "mtls" }));
    receiver = await spawnReceiver(receiverConfig);
    say(
      `master  receiver: decnet-updater receive, reports to ${receiver.url}/reports, SQLite in master/state`,
    );
    say(`master  fleet page: ${receiver.viewUrl}/fleet (and /metrics), while the demo runs`);
    // the host's certificate names it: the receiver takes its reports only under that name
    host = await writeHostConfig(join(root, "host"), pki, signer, `${server.url}/`, {
      hostId: "demo-host",
      client: pki.issue("demo-host", { clientAuth: true }),
      reportUrl: `${receiver.url}/reports`,
    });
    say(
      `host    config: host/updater.toml, install dir host/opt/decnet, agent on https://127.0.0.1:${host.port}/health`,
    );
    say();

    const steps: Array<{ title: string; spec?: ReleaseSpec; expect: string; code: number }> = [
      {
        title: "master publishes 1.0.0; the host updates",
        spec: { version: "1.0.0", sha: "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a" },
        expect: "updated",
        code: 0,
      },
      {
        title: "master publishes 2.0.0; the host updates",
        spec: { version: "2.0.0", sha: "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b" },
        expect: "updated",
        code: 0,
      },
      {
        title:
          "master publishes 3.0.0, whose agent answers /health with HTTP 500; the host updates",
        spec: {
          version: "3.0.0",
          sha: "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
          health: "broken",
        },
        expect: "rolled_back",
        code: 2,
      },
      {
        title: "the next cycle: 3.0.0 is still latest but marked failed",
        expect: "skipped",
        code: 0,
      },
    ];
    let failures = 0;
    for (const [index, step] of steps.entries()) {
      say(`${index + 1}. ${step.title}`);
      if (step.spec) {
        const tarball = await buildReleaseTarball(join(root, "master/build"), step.spec);
        const published = await runCli([
          "publish",
          "--feed",
          join(root, "master/feed"),
          "--tarball",
          tarball,
          "--version",
          step.spec.version,
          "--sha",
          step.spec.sha,
          "--key",
          signer.keyFile,
          "--latest",
        ]);
        if (published.code !== 0) throw new Error(`publish failed: ${published.stderr}`);
        say(
          `   decnet-updater publish --version ${step.spec.version} --sha ${short(step.spec.sha)} --latest`,
        );
      }
      const started = Date.now();
      const result = await runCli(["update", "--json", "--config", host.configFile]);
      const json = JSON.parse(result.stdout || "{}") as {
        status?: string;
        from?: { version: string } | null;
        to?: { version: string } | null;
        error?: string | null;
      };
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const agent = await health(pki, host.port);
      say(
        `   decnet-updater update -> ${json.status}: ${json.from?.version ?? "nothing"} -> ${json.to?.version ?? "?"} (exit ${result.code}, ${seconds} s)`,
      );
      if (json.error) say(`   why: ${json.error}`);
      say(`   the agent answers: ${agent ? `${agent.version} (${short(agent.sha)})` : "nothing"}`);
      if (json.status !== step.expect || result.code !== step.code) {
        failures++;
        say(`   UNEXPECTED: wanted ${step.expect} with exit ${step.code}`);
        say(result.stderr.trim().split("\n").slice(-5).join("\n"));
      }
      say();
    }

    const stored = await runCli([
      "fleet",
      "--json",
      "--host",
      "demo-host",
      "--config",
      receiverConfig,
    ]);
    const reports = (
      JSON.parse(stored.stdout || '{"reports":[]}') as { reports: StoredReport[] }
    ).reports.reverse();
    say(`master received ${reports.length} reports:`);
    for (const report of reports)
      say(
        `   ${report.status.padEnd(12)} ${report.from_version ?? "nothing"} -> ${report.to_version ?? "?"}${report.error ? `  (${report.error})` : ""}`,
      );
    const pending = await readdir(join(host.stateDir, "outbox")).catch(() => []);
    say(`   pending on the host: ${pending.length}`);
    say();
    say("decnet-updater status:");
    const status = await runCli(["status", "--config", host.configFile]);
    for (const line of status.stdout.trim().split("\n")) say(`   ${line}`);
    say();
    say("decnet-updater fleet (on the master):");
    const fleet = await runCli(["fleet", "--config", receiverConfig]);
    for (const line of fleet.stdout.trimEnd().split("\n")) say(`   ${line}`);
    say();
    const story = reports.map((r) => r.status).join(", ");
    if (failures === 0 && story === "updated, updated, rolled_back, skipped") {
      say(
        "The story: installed 1.0.0, updated to 2.0.0, 3.0.0 rolled back and then skipped, every report received.",
      );
      return 0;
    }
    say(`The demo did not go as planned (reports: ${story}).`);
    return 1;
  } finally {
    if (host) await killAgent(host.installDir);
    await receiver?.stop();
    await server.close();
    if (keep) say(`Kept ${root}.`);
    else await rm(root, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
