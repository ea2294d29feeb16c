/**
 * The feed's load from a fleet, simulated (no network): N hosts on the
 * default schedule (`*\/15 * * * *`), each check placed where the daemon
 * would place it, counted per second over one hour.
 *
 * Scenarios: no splay (every host at the slot's first second), the random
 * 0..300 s splay this project started with (node-cron's maxRandomDelay, a
 * fresh draw per check), and the default now: each host's fixed phase in a
 * 900 s splay, from the daemon's own hostPhaseMs().
 *
 * Peak over mean is given per second, per 10 s and per minute: with
 * independent hosts the per-second count is a Poisson draw, so its peak
 * stays well above the mean for any spreading at 11 requests per second
 * (10,000 hosts); the minute shows whether requests cluster.
 */
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { hostPhaseMs } from "../src/daemon/phase.js";
import { prng } from "./lib/prng.js";

const HOUR_S = 3600;
const INTERVAL_S = 900;

export type Scenario = "no splay" | "random 0..300 s" | "fixed phase, 900 s (default)";
export const SCENARIOS: Scenario[] = [
  "no splay",
  "random 0..300 s",
  "fixed phase, 900 s (default)",
];

export interface LoadFigures {
  hosts: number;
  scenario: Scenario;
  mean_rps: number;
  peak_rps_1s: number;
  peak_rps_10s: number;
  peak_rps_60s: number;
  /** peak (60 s window) / mean: the target is <= 1.3 */
  peak_over_mean_60s: number;
  peak_over_mean_1s: number;
  requests_per_hour: number;
  mib_per_hour: number;
}

/** Requests in each second of one hour. */
export function perSecond(hosts: number, scenario: Scenario): Uint32Array {
  const counts = new Uint32Array(HOUR_S);
  const random = prng(42);
  for (let host = 0; host < hosts; host++) {
    const phaseS = hostPhaseMs(`worker-${String(host).padStart(6, "0")}`, INTERVAL_S * 1000) / 1000;
    for (let slot = 0; slot < HOUR_S; slot += INTERVAL_S) {
      const delay =
        scenario === "no splay" ? 0 : scenario === "random 0..300 s" ? random() * 300 : phaseS;
      counts[Math.floor(slot + delay) % HOUR_S] =
        (counts[Math.floor(slot + delay) % HOUR_S] ?? 0) + 1;
    }
  }
  return counts;
}

/** The highest average rate over any `window` consecutive seconds (wrapping, as the hour repeats). */
function peakRate(counts: Uint32Array, window: number): number {
  let sum = 0;
  for (let i = 0; i < window; i++) sum += counts[i] ?? 0;
  let best = sum;
  for (let i = window; i < counts.length + window; i++) {
    sum += (counts[i % counts.length] ?? 0) - (counts[i - window] ?? 0);
    best = Math.max(best, sum);
  }
  return best / window;
}

export function figures(hosts: number, scenario: Scenario, bytesPerPoll: number): LoadFigures {
  const counts = perSecond(hosts, scenario);
  const total = counts.reduce((a, b) => a + b, 0);
  const mean = total / HOUR_S;
  const peak1 = peakRate(counts, 1);
  const peak60 = peakRate(counts, 60);
  return {
    hosts,
    scenario,
    mean_rps: mean,
    peak_rps_1s: peak1,
    peak_rps_10s: peakRate(counts, 10),
    peak_rps_60s: peak60,
    peak_over_mean_60s: peak60 / mean,
    peak_over_mean_1s: peak1 / mean,
    requests_per_hour: total,
    mib_per_hour: (total * bytesPerPoll) / 2 ** 20,
  };
}

/** Requests per second over the hour, one panel per scenario, each with its own scale. */
export function chart(hosts: number): string {
  const width = 960;
  const panel = 190;
  const left = 70;
  const plotWidth = width - left - 20;
  const parts: string[] = [];
  SCENARIOS.forEach((scenario, index) => {
    const counts = perSecond(hosts, scenario);
    const mean = counts.reduce((a, b) => a + b, 0) / HOUR_S;
    const top = 75 + index * (panel + 45);
    const max = Math.max(...counts, 1);
    const x = (second: number) => left + (second / HOUR_S) * plotWidth;
    const y = (rate: number) => top + panel - (rate / max) * panel;
    const bars: string[] = [];
    for (let s = 0; s < HOUR_S; s++)
      bars.push(`M${x(s).toFixed(1)} ${y(0)}V${y(counts[s] ?? 0).toFixed(1)}`);
    const minute: string[] = [];
    for (let s = 0; s < HOUR_S; s += 60) {
      let sum = 0;
      for (let i = s; i < s + 60; i++) sum += counts[i] ?? 0;
      minute.push(
        `${s === 0 ? "M" : "L"}${x(s).toFixed(1)} ${y(sum / 60).toFixed(1)}H${x(s + 60).toFixed(1)}`,
      );
    }
    parts.push(
      `<text x="${left}" y="${top - 10}" font-size="14">${scenario}: peak ${max}/s, mean ${mean.toFixed(1)}/s</text>`,
      // a lone spike needs a wider stroke to be seen at all
      `<path d="${bars.join("")}" stroke="#7fa7d9" stroke-width="${scenario === "no splay" ? 2 : 0.3}"/>`,
      `<path d="${minute.join("")}" stroke="#c0392b" stroke-width="1.5" fill="none"/>`,
      `<line x1="${left}" x2="${left + plotWidth}" y1="${y(mean)}" y2="${y(mean)}" stroke="#333" stroke-dasharray="4 3"/>`,
      `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + panel}" stroke="#333"/>`,
      `<line x1="${left}" x2="${left + plotWidth}" y1="${top + panel}" y2="${top + panel}" stroke="#333"/>`,
      `<text x="${left - 6}" y="${top + 4}" font-size="11" text-anchor="end">${max}</text>`,
      `<text x="${left - 6}" y="${top + panel}" font-size="11" text-anchor="end">0</text>`,
      ...[0, 15, 30, 45, 60].map(
        (m) =>
          `<text x="${x(m * 60)}" y="${top + panel + 14}" font-size="11" text-anchor="middle">${m} min</text>`,
      ),
    );
  });
  const height = 75 + SCENARIOS.length * (panel + 45);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" fill="none">
<title>Feed requests per second over one hour, ${hosts} hosts, three splay settings</title>
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="22" font-size="16" fill="black">Feed requests per second over one hour: ${hosts.toLocaleString("en")} hosts on */15 * * * *</text>
<text x="${left}" y="42" font-size="12" fill="black">blue: each second; red: average of each minute; dashed: mean (bench/fleet-load.ts)</text>
<g fill="black">${parts.filter((p) => p.startsWith("<text")).join("\n")}</g>
${parts.filter((p) => !p.startsWith("<text")).join("\n")}
</svg>
`;
}

export const CHART_FILE = resolve(import.meta.dirname, "fleet-load.svg");

export async function benchFleetLoad(
  hostCounts: number[],
  bytesPerPoll: number,
): Promise<LoadFigures[]> {
  const results: LoadFigures[] = [];
  for (const hosts of hostCounts)
    for (const scenario of SCENARIOS) results.push(figures(hosts, scenario, bytesPerPoll));
  await writeFile(CHART_FILE, chart(hostCounts[0] ?? 10_000));
  return results;
}

if (process.argv[1]?.endsWith("fleet-load.ts")) {
  console.table(await benchFleetLoad([10_000, 100_000], 4300));
}
