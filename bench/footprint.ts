/**
 * The daemon at rest (`status` and `--version` are in start-cost.ts):
 *
 * - RSS of `decnet-updater run` idle between checks (after its start-up
 *   cycle), against bare `node` idling and against node with undici idling
 *   after one mTLS GET (the platform's floor), and the CPU it uses while
 *   idle.
 */
import { spawn } from "node:child_process";
import { symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { installActive } from "../test/helpers/feed.js";
import { tarGz } from "../test/helpers/tarball.js";
import { MiB, median, procCpuMs, procStatus, sleep } from "./lib/measure.js";
import { CLI, makeWorld, publish, writeBenchHost } from "./lib/world.js";

const TRANSPORT = resolve(import.meta.dirname, "drivers/transport-idle.mjs");

export interface FootprintResult {
  idle_rss_mib: number;
  node_idle_rss_mib: number;
  /** node + undici after one mTLS GET, idle: the floor under the daemon. */
  transport_idle_rss_mib: number;
  idle_cpu_ms_per_min: number;
  idle_window_s: number;
}

const SHA = "1000000aaaa1000000aaaa1000000aaaa1000000";

/** Median RSS and CPU used by `pid` over `seconds`, sampled every 100 ms. */
async function idleFigures(pid: number, seconds: number): Promise<{ rss: number; cpuMs: number }> {
  const rss: number[] = [];
  const cpuBefore = procCpuMs(pid) ?? 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const status = procStatus(pid);
    if (status) rss.push(status.rss);
    await sleep(100);
  }
  return { rss: median(rss), cpuMs: (procCpuMs(pid) ?? 0) - cpuBefore };
}

export async function benchFootprint(idleSeconds: number): Promise<FootprintResult> {
  const world = await makeWorld("du-bench-foot-");
  try {
    const tarball = join(world.root, "tiny.tar.gz");
    await writeFile(tarball, tarGz([{ path: "README", body: "x" }]));
    await publish(world, tarball, "1.0.0", SHA);
    // the default schedule: after its start-up cycle the daemon waits for its next slot
    const host = await writeBenchHost(world, "host");
    await installActive(host.installDir, SHA, "1.0.0");
    await symlink("releases/active", join(host.installDir, "current"));

    // The daemon and its floors idle side by side, sampled over the same window: file-backed
    // pages (Node's own binary) come and go with the machine, so figures taken minutes apart
    // differed by more than the gap between them.
    const { pki } = world;
    const daemon = spawn(CLI, ["run", "--config", host.configFile], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const bare = spawn("node", ["-e", "setInterval(() => {}, 1e9)"], { stdio: "ignore" });
    const transport = spawn(
      "node",
      [TRANSPORT, `${world.feed.url}/manifest.json`, pki.ca, pki.client.cert, pki.client.key],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let idle: { rss: number; cpuMs: number };
    let bareIdle: { rss: number; cpuMs: number };
    let transportIdle: { rss: number; cpuMs: number };
    try {
      for await (const line of createInterface({ input: daemon.stdout })) {
        if (line.includes("Cycle ended")) break;
      }
      for await (const line of createInterface({ input: transport.stdout }))
        if (line === "ready") break;
      // V8 shrinks the heap some 8 s after the last allocations (its memory reducer):
      // what the daemon holds for the rest of a 15-minute wait comes after that
      await sleep(12_000);
      [idle, bareIdle, transportIdle] = await Promise.all([
        idleFigures(daemon.pid as number, idleSeconds),
        idleFigures(bare.pid as number, idleSeconds),
        idleFigures(transport.pid as number, idleSeconds),
      ]);
    } finally {
      bare.kill("SIGKILL");
      transport.kill("SIGKILL");
      daemon.kill("SIGTERM");
      await new Promise((resolve) => daemon.once("exit", resolve));
    }

    return {
      idle_rss_mib: idle.rss / MiB,
      node_idle_rss_mib: bareIdle.rss / MiB,
      transport_idle_rss_mib: transportIdle.rss / MiB,
      idle_cpu_ms_per_min: (idle.cpuMs / idleSeconds) * 60,
      idle_window_s: idleSeconds,
    };
  } finally {
    await world.close();
  }
}

if (process.argv[1]?.endsWith("footprint.ts")) {
  console.log(JSON.stringify(await benchFootprint(Number(process.argv[2] ?? 10)), null, 2));
}
