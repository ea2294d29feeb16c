/**
 * Fetch + verify + extract of a mixed release through a real `update`,
 * against GNU tools on the same data from the same server:
 *
 *   curl --cert ... URL | tee >(sha256sum) | tar -xzf - -C DIR
 *
 * Ours is the sum of the download, verify and extract steps the update
 * reports (the manifest fetch, pip, restart and probe are left out; the
 * baseline does none of them). The same run gives the update's peak RSS,
 * sampled from /proc (the agent's own process; pip is a child with its own).
 *
 * The floor under that peak, in the same run: node + undici streaming the
 * same tarball over the same mTLS to /dev/null (drivers/stream-devnull.mjs).
 * Both start under Node's default flags (the program's shebang gives none,
 * src/cli/main.ts) and set the young generation's growth factor as
 * `update` does once loaded (src/cli/v8-flags.ts), so they differ only in
 * what they do.
 */
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { killAgent } from "../test/helpers/e2e.js";
import { MiB, median, runMeasured } from "./lib/measure.js";
import { benchRelease } from "./lib/release-data.js";
import { makeWorld, publish, runCli, writeBenchHost } from "./lib/world.js";

export interface FetchExtractResult {
  release: { mib: number; files: number; tarball_mib: number };
  ours_ms: number;
  ours_steps_ms: { download: number; verify: number; extract: number };
  baseline_ms: number;
  ratio: number;
  update_wall_ms: number;
  peak_rss_mib: number;
  /** node + undici streaming the tarball to /dev/null: the target's baseline. */
  floor_rss_mib: number;
}

const STREAM = resolve(import.meta.dirname, "drivers/stream-devnull.mjs");

const AGENT = { version: "2.0.0", sha: "2000000bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" };

export async function benchFetchExtract(mib: number, runs: number): Promise<FetchExtractResult> {
  const release = await benchRelease(`mixed-${mib}m`, mib * MiB, AGENT);
  const world = await makeWorld("du-bench-fx-");
  try {
    await publish(world, release.tarball, AGENT.version, AGENT.sha);
    const url = `${world.feed.url}/decnet-${AGENT.version}.tar.gz`;
    const { pki } = world;
    const baseline: number[] = [];
    const ours: number[] = [];
    const steps: Array<FetchExtractResult["ours_steps_ms"]> = [];
    let peakRss = 0;
    let floorRss = 0;
    let updateWall = 0;
    for (let run = 0; run < runs; run++) {
      const floor = await runMeasured([
        "node",
        STREAM,
        url,
        pki.ca,
        pki.client.cert,
        pki.client.key,
      ]);
      if (floor.code !== 0) throw new Error(`stream-devnull: ${floor.stderr}`);
      floorRss = Math.max(floorRss, floor.peakRss);
      // baseline first, then ours, alternating, so drift on a shared machine hits both
      const out = join(world.root, `gnu-${run}`);
      await mkdir(join(out, "tree"), { recursive: true });
      const script = `set -euo pipefail; curl -sS --fail --cacert '${pki.ca}' --cert '${pki.client.cert}' --key '${pki.client.key}' '${url}' | tee >(sha256sum > '${out}/sha256') | tar -xzf - -C '${out}/tree'`;
      const gnu = await runMeasured(["bash", "-c", script]);
      if (gnu.code !== 0) throw new Error(`baseline failed: ${gnu.stderr}`);
      baseline.push(gnu.wallMs);
      await rm(out, { recursive: true, force: true });

      // a 1 GiB release is over the default download and unpacked limits
      const host = await writeBenchHost(world, `host-${run}`, {
        limits: { max_download_bytes: 4 * 1024 * MiB, max_unpacked_bytes: 4 * 1024 * MiB },
      });
      const result = await runCli(host, ["update", "--json"]);
      await killAgent(host.installDir);
      const doc = JSON.parse(result.stdout) as {
        status: string;
        steps: Array<{ name: string; ms: number }>;
      };
      if (doc.status !== "updated")
        throw new Error(`update ended ${doc.status}: ${result.stdout} ${result.stderr}`);
      const ms = (name: string) => doc.steps.find((s) => s.name === name)?.ms ?? Number.NaN;
      const s = { download: ms("download"), verify: ms("verify"), extract: ms("extract") };
      steps.push(s);
      ours.push(s.download + s.verify + s.extract);
      peakRss = Math.max(peakRss, result.peakRss);
      updateWall = result.wallMs;
      await rm(host.dir, { recursive: true, force: true });
    }
    const best = ours.indexOf(median(ours));
    return {
      release: {
        mib: Math.round(release.unpackedBytes / MiB),
        files: release.files,
        tarball_mib: Math.round(release.tarballBytes / MiB),
      },
      ours_ms: Math.round(median(ours)),
      ours_steps_ms: steps[Math.max(best, 0)] as FetchExtractResult["ours_steps_ms"],
      baseline_ms: Math.round(median(baseline)),
      ratio: median(ours) / median(baseline),
      update_wall_ms: Math.round(updateWall),
      peak_rss_mib: peakRss / MiB,
      floor_rss_mib: floorRss / MiB,
    };
  } finally {
    await world.close();
  }
}

if (process.argv[1]?.endsWith("fetch-extract.ts")) {
  const mib = Number(process.argv[2] ?? 256);
  const runs = Number(process.argv[3] ?? 1);
  console.log(JSON.stringify(await benchFetchExtract(mib, runs), null, 2));
}
