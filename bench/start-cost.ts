/**
 * What one whole process costs in CPU (user + system, every thread, from
 * wait4: drivers/cpu-of.py), against `node -e 0` run interleaved with it:
 *
 * - `update` that finds nothing new (the feed answers 304), as the timer
 *   variant runs every check;
 * - `status` and `--version`.
 *
 * The host is installed and has fetched the manifest once, so every
 * measured `update` sends If-None-Match and gets a 304.
 */
import { symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { installActive } from "../test/helpers/feed.js";
import { tarGz } from "../test/helpers/tarball.js";
import { median, runMeasured } from "./lib/measure.js";
import { CLI, makeWorld, publish, writeBenchHost } from "./lib/world.js";

const CPU_OF = resolve(import.meta.dirname, "drivers/cpu-of.py");
const STREAM = resolve(import.meta.dirname, "drivers/stream-devnull.mjs");
const SHA = "5000000aaaa5000000aaaa5000000aaaa5000000";

export interface StartCostResult {
  runs: number;
  node_cpu_ms: number;
  /** node + undici, one mTLS GET of the manifest, body to /dev/null: what one request costs Node. */
  transport_get_cpu_ms: number;
  update_304_cpu_ms: number;
  status_cpu_ms: number;
  version_cpu_ms: number;
  /** Requests the feed saw during the measured updates: each a 304. */
  not_modified: number;
}

async function cpuOf(argv: string[]): Promise<{ cpuMs: number; stdout: string }> {
  const result = await runMeasured(["python3", CPU_OF, ...argv]);
  const last = result.stderr.trim().split("\n").at(-1) ?? "";
  const figures = JSON.parse(last) as { code: number; cpu_ms: number };
  if (figures.code !== 0)
    throw new Error(`${argv.join(" ")}: exit ${figures.code}: ${result.stderr}`);
  return { cpuMs: figures.cpu_ms, stdout: result.stdout };
}

export async function benchStartCost(runs: number): Promise<StartCostResult> {
  const world = await makeWorld("du-bench-start-");
  try {
    const tarball = join(world.root, "tiny.tar.gz");
    await writeFile(tarball, tarGz([{ path: "README", body: "x" }]));
    await publish(world, tarball, "1.0.0", SHA);
    const host = await writeBenchHost(world, "host", { log: { level: "warn" } });
    await installActive(host.installDir, SHA, "1.0.0");
    await symlink("releases/active", join(host.installDir, "current"));
    const update = [CLI, "update", "--config", host.configFile];
    const first = await cpuOf(update); // fetches the manifest (200) and sends the first report
    if (!first.stdout.startsWith("up to date")) throw new Error(`first update: ${first.stdout}`);

    const before = world.feed.statuses.get(304) ?? 0;
    const { pki } = world;
    const get = [
      "node",
      STREAM,
      `${world.feed.url}/manifest.json`,
      pki.ca,
      pki.client.cert,
      pki.client.key,
    ];
    const node: number[] = [];
    const transport: number[] = [];
    const updates: number[] = [];
    const status: number[] = [];
    const version: number[] = [];
    for (let run = 0; run < runs; run++) {
      node.push((await cpuOf(["node", "-e", "0"])).cpuMs);
      transport.push((await cpuOf(get)).cpuMs);
      updates.push((await cpuOf(update)).cpuMs);
      status.push((await cpuOf([CLI, "status", "--config", host.configFile])).cpuMs);
      version.push((await cpuOf([CLI, "--version"])).cpuMs);
    }
    const notModified = (world.feed.statuses.get(304) ?? 0) - before;
    if (notModified !== runs)
      throw new Error(
        `expected ${runs} answers 304, found ${notModified}: ${[...world.feed.statuses]}`,
      );
    return {
      runs,
      node_cpu_ms: median(node),
      transport_get_cpu_ms: median(transport),
      update_304_cpu_ms: median(updates),
      status_cpu_ms: median(status),
      version_cpu_ms: median(version),
      not_modified: notModified,
    };
  } finally {
    await world.close();
  }
}

if (process.argv[1]?.endsWith("start-cost.ts")) {
  console.log(JSON.stringify(await benchStartCost(Number(process.argv[2] ?? 10)), null, 2));
}
