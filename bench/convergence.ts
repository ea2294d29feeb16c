/**
 * How long a fleet takes to reach a new release, simulated (no network):
 * 100,000 hosts on the default schedule (`*\/15 * * * *`, each host's fixed
 * phase in a 900 s splay, from the daemon's own hostPhaseMs), and a rollout
 * published at 10 %, then 50 % an hour later, then 100 % an hour after
 * that. Each host takes the release at its first check after the step that
 * covers its bucket (the selection's own rolloutBucket), and is on it once
 * its update has run: the measured whole update with its soak, from
 * whole-update.ts when it ran, else the figure given.
 *
 * The feed's load, per second, over the whole rollout: every check is one
 * manifest GET, answered 304 until the manifest changes; a check that gets
 * the new manifest also GETs its signature, and a host that updates GETs
 * the tarball. Reports go to the receiver, not to the feed.
 */
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { hostPhaseMs } from "../src/daemon/phase.js";
import { rolloutBucket } from "../src/feed/select.js";

const INTERVAL_S = 900;
/** 10 % at 0, 50 % an hour later, 100 % an hour after that. */
export const STEPS: ReadonlyArray<{ atS: number; percent: number }> = [
  { atS: 0, percent: 10 },
  { atS: 3600, percent: 50 },
  { atS: 7200, percent: 100 },
];
const SHA = "1210000000000000000000000000000000000121";

export interface ConvergenceResult {
  hosts: number;
  update_s: number;
  /** Seconds from the first step until this share of the fleet is on the release. */
  to_50_percent_s: number;
  to_99_percent_s: number;
  to_100_percent_s: number;
  /** After the last step was published. */
  last_step_to_100_percent_s: number;
  busiest_second: { at_s: number; requests: number; tarballs: number; mb: number };
  mean_rps: number;
  /** Hosts on the new release at the end of each minute. */
  on_release_by_minute: number[];
}

/** The first check at or after `t`, for a host checking at k * 900 + phase. */
function firstCheckAfter(t: number, phaseS: number): number {
  return Math.ceil((t - phaseS) / INTERVAL_S) * INTERVAL_S + phaseS;
}

export function simulate(hosts: number, updateS: number, tarballBytes: number): ConvergenceResult {
  const horizon = (STEPS.at(-1)?.atS ?? 0) + INTERVAL_S + Math.ceil(updateS) + 60;
  const requests = new Uint32Array(horizon);
  const tarballs = new Uint32Array(horizon);
  const done: number[] = [];
  for (let host = 0; host < hosts; host++) {
    const id = `worker-${String(host).padStart(6, "0")}`;
    const phaseS = hostPhaseMs(id, INTERVAL_S * 1000) / 1000;
    const bucket = rolloutBucket(id, SHA);
    const step = STEPS.find((s) => bucket < s.percent) as { atS: number };
    const updatesAt = firstCheckAfter(step.atS, phaseS);
    // every check: one manifest GET; a new manifest since the last check: its signature too
    for (let t = firstCheckAfter(0, phaseS); t < horizon; t += INTERVAL_S) {
      const second = Math.floor(t);
      const changed = STEPS.some((s) => s.atS <= t && s.atS > t - INTERVAL_S);
      requests[second] = (requests[second] ?? 0) + (changed ? 2 : 1);
      if (t === updatesAt) {
        requests[second] = (requests[second] ?? 0) + 1;
        tarballs[second] = (tarballs[second] ?? 0) + 1;
      }
    }
    done.push(updatesAt + updateS);
  }
  done.sort((a, b) => a - b);
  const at = (share: number) => done[Math.ceil(share * hosts) - 1] as number;
  let busiest = 0;
  for (let s = 0; s < horizon; s++) if ((requests[s] ?? 0) > (requests[busiest] ?? 0)) busiest = s;
  const byMinute: number[] = [];
  let index = 0;
  for (let minute = 1; minute * 60 <= horizon; minute++) {
    while (index < done.length && (done[index] as number) <= minute * 60) index++;
    byMinute.push(index);
  }
  const total = requests.reduce((a, b) => a + b, 0);
  return {
    hosts,
    update_s: updateS,
    to_50_percent_s: Math.round(at(0.5)),
    to_99_percent_s: Math.round(at(0.99)),
    to_100_percent_s: Math.round(at(1)),
    last_step_to_100_percent_s: Math.round(at(1) - (STEPS.at(-1)?.atS ?? 0)),
    busiest_second: {
      at_s: busiest,
      requests: requests[busiest] ?? 0,
      tarballs: tarballs[busiest] ?? 0,
      mb: ((tarballs[busiest] ?? 0) * tarballBytes) / 1e6,
    },
    mean_rps: total / horizon,
    on_release_by_minute: byMinute,
  };
}

/** Hosts on the new release over time, the steps marked. */
export function chart(result: ConvergenceResult): string {
  const width = 960;
  const height = 420;
  const left = 80;
  const top = 60;
  const plotWidth = width - left - 30;
  const plotHeight = height - top - 60;
  const minutes = result.on_release_by_minute.length;
  const x = (minute: number) => left + (minute / minutes) * plotWidth;
  const y = (count: number) => top + plotHeight - (count / result.hosts) * plotHeight;
  const line = result.on_release_by_minute
    .map(
      (count, minute) =>
        `${minute === 0 ? "M" : "L"}${x(minute + 1).toFixed(1)} ${y(count).toFixed(1)}`,
    )
    .join("");
  const steps = STEPS.map(
    (s) =>
      `<line x1="${x(s.atS / 60)}" x2="${x(s.atS / 60)}" y1="${top}" y2="${top + plotHeight}" stroke="#999" stroke-dasharray="4 3"/>` +
      `<text x="${x(s.atS / 60) + 4}" y="${top + 14}" font-size="12" fill="black">${s.percent} % published</text>`,
  );
  const ticks = [];
  for (let m = 0; m <= minutes; m += 30)
    ticks.push(
      `<text x="${x(m)}" y="${top + plotHeight + 16}" font-size="11" text-anchor="middle" fill="black">${m} min</text>`,
    );
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map(
    (share) =>
      `<text x="${left - 6}" y="${y(share * result.hosts) + 4}" font-size="11" text-anchor="end" fill="black">${(share * result.hosts).toLocaleString("en")}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" fill="none">
<title>Hosts on the new release over time, ${result.hosts.toLocaleString("en")} hosts, rollout 10 / 50 / 100 % an hour apart</title>
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="24" font-size="16" fill="black">Hosts on the new release: ${result.hosts.toLocaleString("en")} hosts on */15 * * * *, rollout 10 → 50 → 100 % an hour apart</text>
<text x="${left}" y="44" font-size="12" fill="black">all on it after ${(result.to_100_percent_s / 60).toFixed(1)} min; busiest second at the feed ${result.busiest_second.requests} requests (bench/convergence.ts)</text>
${steps.join("\n")}
<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}" stroke="#333"/>
<line x1="${left}" x2="${left + plotWidth}" y1="${top + plotHeight}" y2="${top + plotHeight}" stroke="#333"/>
<path d="${line}" stroke="#2e7d32" stroke-width="2"/>
${ticks.join("\n")}
${yTicks.join("\n")}
</svg>
`;
}

export const CONVERGENCE_CHART = resolve(import.meta.dirname, "convergence.svg");

export async function benchConvergence(
  hosts: number,
  updateS: number,
  tarballBytes: number,
): Promise<ConvergenceResult> {
  const result = simulate(hosts, updateS, tarballBytes);
  await writeFile(CONVERGENCE_CHART, chart(result));
  return result;
}

if (process.argv[1]?.endsWith("convergence.ts")) {
  const { on_release_by_minute: _, ...figures } = await benchConvergence(100_000, 14.4, 1_352_170);
  console.log(figures);
}
