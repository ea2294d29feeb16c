/**
 * A whole update against the Python original's push update, on a release
 * of DECNET 1.2.1's shape (817 files, 4.8 MB unpacked, 1.36 MB gzipped, no
 * folder entries), the same toy agent and the same offline pip install.
 *
 *   ours      `decnet-updater update`, defaults but for the bench host's
 *             paths: fetch over mTLS, verify, extract, a fresh venv, pip,
 *             the smoke test, rotate, restart, probe every 0.5 s, and the
 *             10 s soak. From the "Updating:" line (the decision) to "The
 *             agent answered healthy", and to the end of the soak.
 *   baseline  bench/drivers/original-push.py: the original's steps with the
 *             tarball already pushed into memory: tarfile, pip install
 *             --force-reinstall --no-deps into its one venv, rotate,
 *             restart, probe every 1 s.
 *
 * The two alternate which goes first, run by run, so both meet the disk
 * and the page cache the same way.
 */
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { agentCommand, killAgent } from "../test/helpers/e2e.js";
import { freePort } from "../test/helpers/release.js";
import { median, runMeasured } from "./lib/measure.js";
import { benchRelease, writeDecnetTree } from "./lib/release-data.js";
import {
  type BenchHost,
  logLines,
  makeWorld,
  publish,
  runCli,
  type World,
  writeBenchHost,
} from "./lib/world.js";

const ORIGINAL = resolve(import.meta.dirname, "drivers/original-push.py");

export interface WholeUpdateResult {
  release: { files: number; unpacked_bytes: number; tarball_bytes: number };
  runs: number;
  /** Decision to the first healthy answer. */
  ours_ms: number;
  /** The process's start to the first healthy answer: start-up, config, lock, manifest fetch and check too. */
  ours_from_start_ms: number;
  /** Decision to the end of the soak (probe.soak_s at its default, 10 s). */
  ours_with_soak_ms: number;
  baseline_ms: number;
  ratio: number;
  ratio_with_soak: number;
  /** Where the time goes, the median run of each. */
  ours_steps_ms: Record<string, number>;
  baseline_steps_ms: Record<string, number>;
  /** How the venv got its pip in the measured runs ("seed"), and the first install. */
  pip_from: string[];
  first_install_ms: number;
}

const version = (n: number) => ({ version: `1.2.${n}`, sha: `${n}`.repeat(40).slice(0, 40) });

function release(n: number) {
  return benchRelease(`decnet-1.2.1-shape-v${n}`, 0, version(n), (root) => writeDecnetTree(root), {
    folderEntries: false,
  });
}

let python: string | undefined;
/** The interpreter python3 on PATH runs, by its own path (asked once). */
function realPython(): string {
  python ??= execFileSync("python3", ["-I", "-c", "import sys; print(sys.executable)"], {
    encoding: "utf8",
  }).trim();
  return python;
}

interface Original {
  dir: string;
  port: number;
  agent: string[];
}

async function originalHost(world: World): Promise<Original> {
  const dir = join(world.root, "original/opt/decnet");
  await mkdir(join(dir, "releases"), { recursive: true });
  const created = await runMeasured([realPython(), "-I", "-m", "venv", join(dir, "venv")]);
  if (created.code !== 0) throw new Error(`the original's venv: ${created.stderr}`);
  const port = await freePort();
  return { dir, port, agent: agentCommand(world.pki, port, dir) };
}

async function runOriginal(world: World, host: Original, tarball: string) {
  const { pki } = world;
  const result = await runMeasured([
    realPython(),
    ORIGINAL,
    tarball,
    host.dir,
    `https://127.0.0.1:${host.port}/health`,
    pki.ca,
    pki.client.cert,
    pki.client.key,
    "--",
    "--isolated",
    "--no-index",
    "--find-links",
    join(host.dir, "releases/active.new/wheels"),
    "decnet",
    "--",
    ...host.agent,
  ]);
  if (result.code !== 0) throw new Error(`the original's update: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, number>;
}

async function runOurs(host: BenchHost) {
  const spawned = Date.now();
  const result = await runCli(host, ["update", "--json"]);
  const doc = JSON.parse(result.stdout) as {
    status: string;
    steps: Array<{ name: string; ms: number }>;
  };
  if (doc.status !== "updated") throw new Error(`update: ${result.stdout} ${result.stderr}`);
  const lines = logLines(result.stderr);
  const line = (message: string) => {
    const found = lines.find((l) => l.msg.startsWith(message));
    if (!found) throw new Error(`no "${message}" in the update's log`);
    return found;
  };
  const at = (message: string) => ({ time: new Date(line(message).time).getTime() });
  const decided = at("Updating:").time;
  const healthy = at("The agent answered healthy").time;
  const probed = at("Step probe done.").time;
  const installed = line("Created the venv");
  const steps: Record<string, number> = Object.fromEntries(doc.steps.map((s) => [s.name, s.ms]));
  const restartDone = at("Step restart done.").time;
  const breakdown: Record<string, number> = {
    download: steps.download ?? 0,
    verify: steps.verify ?? 0,
    extract: steps.extract ?? 0,
    venv: Number(installed.venv_ms),
    pip: Number(installed.command_ms),
    smoke: steps.smoke ?? 0,
    "rotate+promote+units": (steps.rotate ?? 0) + (steps.promote ?? 0) + (steps.units ?? 0),
    restart: steps.restart ?? 0,
    probe: healthy - restartDone,
    soak: probed - healthy,
  };
  return {
    ms: healthy - decided,
    fromStartMs: healthy - spawned,
    withSoakMs: probed - decided,
    steps: breakdown,
    pip: String(installed.pip),
  };
}

export async function benchWholeUpdate(runs: number): Promise<WholeUpdateResult> {
  const world = await makeWorld("du-bench-whole-");
  try {
    // The defaults an operator gets: soak 10 s, probe every 0.5 s, the smoke test on. The
    // interpreter by its real path, as on a host (/usr/bin/python3): where python3 on PATH is a
    // pyenv shim, the shim alone costs 0.5 s a start, which the original, creating its venv
    // with its own sys.executable, never pays.
    const host = await writeBenchHost(world, "host", {
      probe: { soak_s: 10 },
      install: { smoke: ["{venv}/bin/decnet", "--help"], python: realPython() },
    });
    const original = await originalHost(world);
    const first = await release(1);
    await publish(world, first.tarball, version(1).version, version(1).sha);
    const firstInstall = await runOurs(host);
    await runOriginal(world, original, first.tarball); // its venv's first install (full deps)

    const ours: Array<Awaited<ReturnType<typeof runOurs>>> = [];
    const baseline: Array<Record<string, number>> = [];
    let stats = first;
    for (let run = 0; run < runs; run++) {
      const n = run + 2;
      stats = await release(n);
      await publish(world, stats.tarball, version(n).version, version(n).sha);
      if (run % 2 === 0) {
        baseline.push(await runOriginal(world, original, stats.tarball));
        ours.push(await runOurs(host));
      } else {
        ours.push(await runOurs(host));
        baseline.push(await runOriginal(world, original, stats.tarball));
      }
    }
    await killAgent(host.installDir);
    await killAgent(original.dir);
    const oursMs = median(ours.map((o) => o.ms));
    const baselineMs = median(baseline.map((b) => b.total as number));
    const withSoak = median(ours.map((o) => o.withSoakMs));
    const middle = <T>(list: T[], value: (t: T) => number, mid: number) =>
      list.find((t) => value(t) === mid) ?? (list[0] as T);
    return {
      release: {
        files: stats.files + 1,
        unpacked_bytes: stats.unpackedBytes,
        tarball_bytes: stats.tarballBytes,
      },
      runs,
      ours_ms: Math.round(oursMs),
      ours_with_soak_ms: Math.round(withSoak),
      ours_from_start_ms: Math.round(median(ours.map((o) => o.fromStartMs))),
      baseline_ms: Math.round(baselineMs),
      ratio: oursMs / baselineMs,
      ratio_with_soak: withSoak / baselineMs,
      ours_steps_ms: middle(ours, (o) => o.ms, oursMs).steps,
      baseline_steps_ms: middle(baseline, (b) => b.total as number, baselineMs),
      pip_from: ours.map((o) => o.pip),
      first_install_ms: Math.round(firstInstall.ms),
    };
  } finally {
    await world.close();
  }
}

if (process.argv[1]?.endsWith("whole-update.ts")) {
  console.log(JSON.stringify(await benchWholeUpdate(Number(process.argv[2] ?? 1)), null, 2));
}
