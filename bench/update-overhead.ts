/**
 * What an update costs beyond the work of pip and of the agent itself, for
 * a DECNET-sized release (5 MiB, 1,500 files), through real `update` runs.
 * From the update's own log:
 *
 *   overhead       = (first healthy answer - decision to update)
 *                    - install step (venv + pip) - the agent's own start-up
 *   unavailability = (first healthy answer - SIGTERM to the old agent)
 *                    - the agent's own start-up
 *
 * The agent's own start-up is the baseline, measured in the same run: the
 * installed fixture agent started by hand and probed every 5 ms until it
 * answers. So is GNU tar extracting the same tarball on the same disk: most
 * of the overhead is the file system creating 1,500 files, which costs GNU
 * tar as much (docs/performance.md).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { agentCommand, killAgent } from "../test/helpers/e2e.js";
import { MiB, median, runMeasured, sleep } from "./lib/measure.js";
import { benchRelease, writeSourceTree } from "./lib/release-data.js";
import {
  type BenchHost,
  logLines,
  makeWorld,
  publish,
  runCli,
  type World,
  writeBenchHost,
} from "./lib/world.js";

export interface OverheadResult {
  release: { files: number; mib: number };
  runs: number;
  overhead_ms: number;
  /** The window minus the agent's start-up; never below 0 (the two are measured apart). */
  unavailable_ms: number;
  /** The whole window: SIGTERM to the old agent until the new one's first healthy answer. */
  window_ms: number;
  agent_startup_ms: number;
  install_ms: number;
  /** GNU tar extracting the same release on the same disk. */
  gnu_tar_extract_ms: number;
  /** The other steps of the median run, for where the overhead goes. */
  steps_ms: Record<string, number>;
}

const version = (n: number) => ({ version: `${n}.0.0`, sha: `${n}`.repeat(40).slice(0, 40) });

async function release(n: number) {
  return benchRelease(`decnet-5m-v${n}`, 5 * MiB, version(n), (root) =>
    writeSourceTree(root, 1500, 5 * MiB),
  );
}

/**
 * ms from spawning the installed agent to its first healthy answer, probing
 * every 5 ms. The agent is left running, in agent.pid, as the updater would
 * have left it, so the next update has an agent to stop.
 */
async function agentStartup(world: World, host: BenchHost): Promise<number> {
  const [file, ...args] = agentCommand(world.pki, host.port, host.installDir);
  const tls = {
    ca: readFileSync(world.pki.ca),
    cert: readFileSync(world.pki.client.cert),
    key: readFileSync(world.pki.client.key),
  };
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: host.port, path: "/health", ...tls, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on("error", () => resolve(false));
      req.end();
    });
  const started = performance.now();
  const child = spawn(file as string, args, {
    cwd: host.installDir,
    stdio: "ignore",
    detached: true,
  });
  child.unref();
  while (!(await answers())) await sleep(5);
  const ms = performance.now() - started;
  await writeFile(join(host.installDir, "agent.pid"), `${child.pid}\n`);
  return ms;
}

/**
 * `onTmpfs`: the whole host (install dir, venvs, state) in /dev/shm, which
 * takes the disk's cost of creating files out of the figure: what is left is
 * the updater's own.
 */
export async function benchUpdateOverhead(runs: number, onTmpfs = false): Promise<OverheadResult> {
  const world = await makeWorld("du-bench-ovh-", onTmpfs ? "/dev/shm" : undefined);
  try {
    const host = await writeBenchHost(world, "host");
    const first = await release(1);
    await publish(world, first.tarball, "1.0.0", version(1).sha);
    const installed = await runCli(host, ["update", "--json"]);
    if (!installed.stdout.includes('"updated"'))
      throw new Error(`first install: ${installed.stderr}`);

    const overhead: number[] = [];
    const unavailable: number[] = [];
    const windows: number[] = [];
    const startup: number[] = [];
    const installs: number[] = [];
    const gnuTar: number[] = [];
    const stepsByRun: Array<Record<string, number>> = [];
    for (let run = 0; run < runs; run++) {
      const n = run + 2;
      const next = await release(n);
      await publish(world, next.tarball, version(n).version, version(n).sha);
      // GNU tar on the same tarball and disk right before, so both meet the disk in the same state
      const out = join(world.root, `gnu-tar-${n}`);
      await mkdir(out);
      const tar = await runMeasured(["tar", "-xzf", next.tarball, "-C", out]);
      if (tar.code !== 0) throw new Error(`tar: ${tar.stderr}`);
      gnuTar.push(tar.wallMs);
      await rm(out, { recursive: true, force: true });
      const result = await runCli(host, ["update", "--json"]);
      const doc = JSON.parse(result.stdout) as {
        status: string;
        steps: Array<{ name: string; ms: number }>;
      };
      if (doc.status !== "updated")
        throw new Error(`update ${n}: ${result.stdout} ${result.stderr}`);
      const lines = logLines(result.stderr);
      const at = (message: string) => {
        const line = lines.find((l) => l.msg.startsWith(message));
        if (!line) throw new Error(`no "${message}" in the update's log`);
        return new Date(line.time).getTime();
      };
      const stopped = lines.find((l) => l.msg === "Stopped the agent.");
      if (!stopped) throw new Error('no "Stopped the agent." in the update\'s log');
      const sigterm = new Date(stopped.time).getTime() - Number(stopped.ms);
      const healthy = at("The agent answered healthy");
      const steps = Object.fromEntries(doc.steps.map((s) => [s.name, s.ms]));
      // the agent's own start-up, right after, with the same venv and port (left running for the next run)
      await killAgent(host.installDir);
      await sleep(200); // its port must be free again
      const agentMs = await agentStartup(world, host);
      startup.push(agentMs);
      installs.push(steps.install ?? 0);
      overhead.push(healthy - at("Updating:") - (steps.install ?? 0) - agentMs);
      unavailable.push(Math.max(0, healthy - sigterm - agentMs));
      windows.push(healthy - sigterm);
      stepsByRun.push(steps);
    }
    await killAgent(host.installDir);
    const mid = overhead.indexOf(median(overhead));
    return {
      release: { files: 1500, mib: 5 },
      runs,
      overhead_ms: Math.round(median(overhead)),
      unavailable_ms: Math.round(median(unavailable)),
      window_ms: Math.round(median(windows)),
      agent_startup_ms: Math.round(median(startup)),
      install_ms: Math.round(median(installs)),
      gnu_tar_extract_ms: Math.round(median(gnuTar)),
      steps_ms: stepsByRun[Math.max(mid, 0)] ?? {},
    };
  } finally {
    await world.close();
  }
}

if (process.argv[1]?.endsWith("update-overhead.ts")) {
  const result = await benchUpdateOverhead(
    Number(process.argv[2] ?? 1),
    process.argv[3] === "tmpfs",
  );
  console.log(JSON.stringify(result, null, 2));
}
