/**
 * `npm run bench [-- --quick] [-- --only NAME,...]`: every benchmark of
 * docs/performance.md, each against a baseline run in the same script on the
 * same data, printed as one table and written to bench/results.json.
 *
 * --quick (under two minutes once bench/.cache holds the releases): one run
 * of each, peak RSS at 32 MiB and 256 MiB. Full: three runs, 256 MiB and
 * 1 GiB, and the update overhead once more with the host on tmpfs. Run `npm run build` first (the npm script does): hosts run the
 * built program, and so do the benchmarks.
 */

import { writeFile } from "node:fs/promises";
import { cpus, release as kernel } from "node:os";
import { resolve } from "node:path";
import { benchConvergence, CONVERGENCE_CHART } from "./convergence.js";
import { benchFetchExtract } from "./fetch-extract.js";
import { benchFleetLoad, CHART_FILE } from "./fleet-load.js";
import { benchFootprint } from "./footprint.js";
import { benchIdleCycle } from "./idle-cycle.js";
import { benchMaster } from "./master.js";
import { benchStartCost } from "./start-cost.js";
import { benchUpdateOverhead } from "./update-overhead.js";
import { benchWholeUpdate, type WholeUpdateResult } from "./whole-update.js";

interface Row {
  figure: string;
  value: number;
  unit: string;
  baseline: string;
  baseline_value: number | null;
  ratio: number | null;
  target: string;
  /** null: a figure reported beside a target, with no target of its own. */
  met: boolean | null;
}

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args.find((a) => a.startsWith("--only"));
const only = onlyArg
  ? (onlyArg.split("=")[1] ?? args[args.indexOf(onlyArg) + 1] ?? "").split(",")
  : null;
const wanted = (name: string) => only === null || only.includes(name);
const runs = quick ? 1 : 3;
const rows: Row[] = [];
const raw: Record<string, unknown> = {};
const started = performance.now();

const row = (r: Omit<Row, "ratio"> & { ratio?: number | null }) => {
  const full: Row = {
    ratio: r.ratio ?? (r.baseline_value ? r.value / r.baseline_value : null),
    ...r,
  };
  rows.push(full);
  const ratio = full.ratio === null ? "" : ` (${full.ratio.toFixed(2)} x)`;
  console.error(
    `  ${full.met === null ? "    " : full.met ? "ok  " : "MISS"} ${full.figure}: ${round(full.value, full.unit)} ${full.unit}; ${full.baseline}${ratio}; target ${full.target}`,
  );
};
const round = (n: number, unit = "") =>
  unit === "x" ? n.toFixed(2) : Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 10) / 10;
const step = (name: string) =>
  console.error(`\n${name} (${Math.round((performance.now() - started) / 1000)} s)`);

if (wanted("fetch-extract")) {
  const sizes = quick ? [256, 32] : [256, 1024, 32];
  const peaks: number[] = [];
  for (const [index, mib] of sizes.entries()) {
    step(`fetch + verify + extract, ${mib} MiB`);
    const result = await benchFetchExtract(mib, index === 0 ? runs : 1);
    peaks.push(result.peak_rss_mib);
    raw[`fetch_extract_${mib}m`] = result;
    if (index === 0)
      row({
        figure: `fetch+verify+extract ${mib} MiB (${result.release.files} files)`,
        value: result.ours_ms,
        unit: "ms",
        baseline: `curl | tee >(sha256sum) | tar xz: ${result.baseline_ms} ms`,
        baseline_value: result.baseline_ms,
        target: "<= 1.5 x baseline",
        met: result.ratio <= 1.5,
      });
    row({
      figure: `peak RSS of update, ${mib} MiB release`,
      value: result.peak_rss_mib,
      unit: "MiB",
      baseline: `node + undici streaming the tarball (${result.release.tarball_mib} MiB) over the same mTLS to /dev/null: ${result.floor_rss_mib.toFixed(1)} MiB`,
      baseline_value: result.floor_rss_mib,
      target: "<= 1.3 x baseline",
      met: result.peak_rss_mib <= 1.3 * result.floor_rss_mib,
    });
  }
  const flat = Math.max(...peaks) / Math.min(...peaks);
  row({
    figure: `peak RSS of update across ${sizes.join(", ")} MiB releases, max/min`,
    value: flat,
    unit: "x",
    baseline: `peaks ${peaks.map((p) => p.toFixed(1)).join(", ")} MiB`,
    baseline_value: null,
    ratio: flat,
    target: "flat: <= 1.10",
    met: flat <= 1.1,
  });
}

let bytesPerPoll = 4300;
if (wanted("idle-cycle")) {
  step("a cycle that finds nothing new");
  const result = await benchIdleCycle(quick ? 60 : 100);
  raw.idle_cycle = result;
  bytesPerPoll = result.wire_bytes;
  row({
    figure: "304 cycle CPU",
    value: result.cpu_ms,
    unit: "ms",
    baseline: `mTLS conditional GET alone: ${result.transport_cpu_ms.toFixed(1)} ms`,
    baseline_value: result.transport_cpu_ms,
    target: "< 20 ms",
    met: result.cpu_ms < 20,
  });
  row({
    figure: "304 cycle bytes on the wire",
    value: result.wire_bytes,
    unit: "B",
    baseline: `curl, same request: ${result.curl_wire_bytes} B`,
    baseline_value: result.curl_wire_bytes,
    target: "< 2048 B",
    met: result.wire_bytes < 2048,
  });
}

if (wanted("whole-update")) {
  step("a whole update against the original's push, DECNET 1.2.1's shape");
  const result = await benchWholeUpdate(quick ? 2 : 4);
  raw.whole_update = result;
  const { release } = result;
  const shape = `${release.files} files, ${(release.unpacked_bytes / 1e6).toFixed(1)} MB, ${(release.tarball_bytes / 1e6).toFixed(2)} MB gz`;
  const steps = (figures: Record<string, number>) =>
    Object.entries(figures)
      .filter(([name]) => name !== "total")
      .map(([name, ms]) => `${name} ${ms}`)
      .join(", ");
  row({
    figure: `whole update, decision to first healthy answer (${shape})`,
    value: result.ours_ms,
    unit: "ms",
    baseline: `the original's push re-enacted: ${result.baseline_ms} ms; ours from the process's start: ${result.ours_from_start_ms} ms (${(result.ours_from_start_ms / result.baseline_ms).toFixed(2)} x)`,
    baseline_value: result.baseline_ms,
    target: "<= 1.0 x baseline, with a fresh venv, the smoke test and the soak",
    met: result.ratio <= 1.0,
  });
  row({
    figure: "whole update to the end of the 10 s soak (the original has none)",
    value: result.ours_with_soak_ms,
    unit: "ms",
    baseline: `the original: ${result.baseline_ms} ms`,
    baseline_value: result.baseline_ms,
    target: "reported, no target",
    met: null,
  });
  console.error(
    `    ours (ms): ${steps(result.ours_steps_ms)}; pip from: ${result.pip_from.join(", ")}`,
  );
  console.error(`    original (ms): ${steps(result.baseline_steps_ms)}`);
  console.error(`    first install (the seed built): ${result.first_install_ms} ms`);
}

// issue 7's figures; in quick mode the whole update above stands for them
if (wanted("overhead") && !quick) {
  step("update overhead, DECNET-sized release");
  const result = await benchUpdateOverhead(runs);
  raw.update_overhead = result;
  row({
    figure: "update overhead (decision to healthy, minus pip and agent start-up)",
    value: result.overhead_ms,
    unit: "ms",
    baseline: `install ${result.install_ms} ms + agent start-up ${result.agent_startup_ms} ms subtracted; GNU tar extracts it in ${result.gnu_tar_extract_ms} ms here`,
    baseline_value: result.agent_startup_ms,
    ratio: null,
    target: "<= 1000 ms",
    met: result.overhead_ms <= 1000,
  });
  row({
    figure: "unavailability (old agent stopped to new healthy, minus agent start-up)",
    value: result.unavailable_ms,
    unit: "ms",
    baseline: `window ${result.window_ms} ms, agent start-up ${result.agent_startup_ms} ms`,
    baseline_value: result.agent_startup_ms,
    ratio: result.window_ms / result.agent_startup_ms,
    target: "<= 250 ms",
    met: result.unavailable_ms <= 250,
  });
}

// an extra figure, full mode only
if (wanted("overhead") && !quick) {
  step("update overhead, the host on tmpfs (the disk's cost of creating files left out)");
  const shm = await benchUpdateOverhead(1, true);
  raw.update_overhead_tmpfs = shm;
  row({
    figure: "update overhead, host on tmpfs",
    value: shm.overhead_ms,
    unit: "ms",
    baseline: `GNU tar extracts the release in ${shm.gnu_tar_extract_ms} ms on tmpfs; ours ${shm.steps_ms.extract} ms`,
    baseline_value: null,
    ratio: null,
    target: "<= 1000 ms",
    met: shm.overhead_ms <= 1000,
  });
}

if (wanted("footprint")) {
  step("daemon at rest");
  const result = await benchFootprint(quick ? 10 : 30);
  raw.footprint = result;
  row({
    figure: "daemon RSS idle between checks",
    value: result.idle_rss_mib,
    unit: "MiB",
    baseline: `node + undici after one mTLS GET: ${result.transport_idle_rss_mib.toFixed(1)} MiB (bare node ${result.node_idle_rss_mib.toFixed(1)})`,
    baseline_value: result.transport_idle_rss_mib,
    target: "<= 1.15 x baseline",
    met: result.idle_rss_mib <= 1.15 * result.transport_idle_rss_mib,
  });
  row({
    figure: "daemon CPU idle",
    value: result.idle_cpu_ms_per_min,
    unit: "ms/min",
    baseline: `over ${result.idle_window_s} s`,
    baseline_value: null,
    target: "~0 (<= 10 ms/min)",
    met: result.idle_cpu_ms_per_min <= 10,
  });
}

if (wanted("start-cost")) {
  step("CPU of a whole process: update at 304, status, --version");
  const result = await benchStartCost(quick ? 5 : 21);
  raw.start_cost = result;
  const node = `node -e 0: ${result.node_cpu_ms.toFixed(0)} ms CPU (median of ${result.runs}, interleaved); node + undici making one mTLS GET: ${result.transport_get_cpu_ms.toFixed(0)} ms`;
  for (const [figure, value, limit] of [
    [
      "`update` that finds nothing new (304), CPU of the whole process",
      result.update_304_cpu_ms,
      3,
    ],
    ["`status`, CPU of the whole process", result.status_cpu_ms, 1.5],
    ["`--version`, CPU of the whole process", result.version_cpu_ms, 1.5],
  ] as const) {
    row({
      figure,
      value,
      unit: "ms",
      baseline: node,
      baseline_value: result.node_cpu_ms,
      target: `<= ${limit} x baseline`,
      met: value <= limit * result.node_cpu_ms,
    });
  }
}

if (wanted("fleet")) {
  step("fleet load simulation");
  const results = await benchFleetLoad([10_000, 100_000], bytesPerPoll);
  raw.fleet_load = results;
  for (const hosts of [10_000, 100_000]) {
    const now = results.find((r) => r.hosts === hosts && r.scenario.startsWith("fixed"));
    const before = results.find((r) => r.hosts === hosts && r.scenario.startsWith("random"));
    const none = results.find((r) => r.hosts === hosts && r.scenario === "no splay");
    if (!now || !before || !none) continue;
    row({
      figure: `feed peak/mean, ${hosts.toLocaleString("en")} hosts (busiest minute; busiest second ${now.peak_over_mean_1s.toFixed(2)} x)`,
      value: now.peak_over_mean_60s,
      unit: "x",
      baseline: `random 300 s splay ${before.peak_over_mean_60s.toFixed(2)} x, no splay ${none.peak_over_mean_60s.toFixed(0)} x`,
      baseline_value: before.peak_over_mean_60s,
      target: "<= 1.3 x",
      met: now.peak_over_mean_60s <= 1.3,
    });
  }
  console.error(`  chart: ${CHART_FILE}`);
}

if (wanted("convergence")) {
  step("fleet convergence simulation: 100,000 hosts, rollout 10 -> 50 -> 100 % an hour apart");
  const whole = raw.whole_update as WholeUpdateResult | undefined;
  // the measured whole update with its soak when it ran in this bench, else the figure of docs/performance.md
  const updateS = whole ? whole.ours_with_soak_ms / 1000 : 14.4;
  const tarballBytes = whole?.release.tarball_bytes ?? 1_352_170;
  const result = await benchConvergence(100_000, updateS, tarballBytes);
  const { on_release_by_minute: _, ...figures } = result;
  raw.convergence = figures;
  const minutes = (s: number) => `${(s / 60).toFixed(1)} min`;
  row({
    figure: "100,000 hosts, 0 to 100 % on a new release, steps 10/50/100 % an hour apart",
    value: result.to_100_percent_s / 60,
    unit: "min",
    baseline: `half the fleet after ${minutes(result.to_50_percent_s)}, 99 % after ${minutes(result.to_99_percent_s)}; the last step to all: ${minutes(result.last_step_to_100_percent_s)} (one 15-minute interval and an update of ${updateS.toFixed(1)} s)`,
    baseline_value: null,
    ratio: null,
    target: "reported, no target",
    met: null,
  });
  row({
    figure: "the feed's busiest second during that rollout",
    value: result.busiest_second.requests,
    unit: "requests",
    baseline: `${result.busiest_second.tarballs} of them tarballs (${result.busiest_second.mb.toFixed(0)} MB) at ${minutes(result.busiest_second.at_s)}; mean ${result.mean_rps.toFixed(0)}/s`,
    baseline_value: result.mean_rps,
    target: "reported, no target",
    met: null,
  });
  console.error(`  chart: ${CONVERGENCE_CHART}`);
}

if (wanted("master")) {
  step("the master: ingest, query, memory");
  const result = await benchMaster(quick);
  raw.master = result;
  const need = 100_000 / (15 * 60); // a 100,000-host rollout's reports in 15 minutes: about 110/s
  const cores = cpus().length;
  const { transport } = result;
  for (const figures of result.ingest) {
    const label = `${figures.store}${figures.via === "nginx" ? " behind nginx" : ", mTLS itself"}`;
    const baseline =
      figures.via === "nginx"
        ? null
        : {
            perConnection: transport.per_connection_per_s,
            keepAlive: transport.keep_alive_per_s,
          };
    row({
      figure: `ingest, ${label}, a connection per report (TLS resumed), reports/s`,
      value: figures.per_connection_per_s,
      unit: "/s",
      baseline: `bare node:https, same client: ${transport.per_connection_per_s}/s; keep-alive ${figures.keep_alive_per_s}/s (bare ${transport.keep_alive_per_s}/s); the database alone, a transaction per report: ${figures.bare_insert_per_s}/s`,
      baseline_value: baseline?.perConnection ?? null,
      target: `>= ${Math.round(need)}/s end to end, client and receiver on ${cores} cores`,
      met: figures.per_connection_per_s >= need && figures.all_stored,
    });
    // The receiver is one process: one core's worth of reports, whatever the machine has
    // (node:cluster workers were tried and cost more CPU per report here: docs/performance.md).
    const headroom = 1000 / figures.receiver_cpu_ms_per_connection_report / need;
    row({
      figure: `ingest headroom, ${label}: one receiver process at ${figures.receiver_cpu_ms_per_connection_report} ms CPU per report, over ${Math.round(need)}/s`,
      value: headroom,
      unit: "x",
      baseline: `bare node:https spends ${transport.server_cpu_ms_per_connection_request} ms per connection; keep-alive: ${figures.receiver_cpu_ms_per_keep_alive_report} ms per report`,
      baseline_value: null,
      ratio: null,
      target: ">= 20 x",
      met: headroom >= 20,
    });
  }
  const { query, memory } = result;
  row({
    figure: `fleet summary over ${query.hosts.toLocaleString("en")} hosts and ${query.reports.toLocaleString("en")} reports`,
    value: query.summary_ms,
    unit: "ms",
    baseline: `the whole \`fleet --json\` process: ${query.fleet_process_ms} ms; node -e 0: ${query.node_start_ms} ms; fleet --host: ${query.host_ms} ms`,
    baseline_value: query.node_start_ms,
    target: "< 1000 ms",
    met: query.summary_ms < 1000 && query.fleet_process_ms < 1000,
  });
  for (const [name, plan] of Object.entries(query.plans))
    console.error(`    plan ${name}: ${plan.join(" / ")}`);
  // after the warm-up: the second half of the run
  const settled = memory.rss_mib.slice(Math.floor(memory.rss_mib.length / 2));
  const flat = Math.max(...settled) / Math.min(...settled);
  row({
    figure: `receiver RSS along ${memory.reports.toLocaleString("en")} reports (keep-alive), over the second half`,
    value: memory.last_mib,
    unit: "MiB",
    baseline: `samples every 10 %: ${memory.rss_mib.join(", ")} MiB; max/min over the second half: ${flat.toFixed(2)}`,
    baseline_value: null,
    ratio: flat,
    target: "flat: max/min <= 1.10",
    met: flat <= 1.1,
  });
}

const machine = {
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  node: process.version,
  kernel: kernel(),
};
const out = resolve(import.meta.dirname, "results.json");
await writeFile(
  out,
  `${JSON.stringify({ mode: quick ? "quick" : "full", date: new Date().toISOString(), machine, figures: rows, raw }, null, 2)}\n`,
);
console.log(
  `\n${"figure".padEnd(78)} ${"value".padStart(10)}  ${"ratio".padStart(7)}  target  ${"baseline"}`,
);
for (const r of rows) {
  console.log(
    `${(r.met === false ? "! " : "  ") + r.figure.padEnd(76)} ${`${round(r.value, r.unit)} ${r.unit}`.padStart(10)}  ${(r.ratio === null ? "" : `${r.ratio.toFixed(2)}x`).padStart(7)}  ${r.target}; ${r.baseline}`,
  );
}
console.log(
  `\n${rows.filter((r) => r.met).length} of ${rows.filter((r) => r.met !== null).length} targets met; ${out} (${Math.round((performance.now() - started) / 1000)} s)`,
);
