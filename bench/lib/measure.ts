/**
 * Measuring other processes from the outside: wall time, peak RSS (VmHWM,
 * which the kernel keeps per process, so a sampler only has to read it
 * before the process is gone) and CPU time from /proc.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux (getconf CLK_TCK)

export interface ProcStatus {
  /** Peak resident set size so far, bytes. */
  hwm: number;
  /** Resident set size now, bytes. */
  rss: number;
}

/** VmHWM and VmRSS of a live process, or null when it is gone. */
export function procStatus(pid: number): ProcStatus | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  const hwm = kib("VmHWM");
  const rss = kib("VmRSS");
  return Number.isFinite(hwm) ? { hwm: hwm * 1024, rss: rss * 1024 } : null;
}

/** User + system CPU time a process has used, ms. */
export function procCpuMs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // fields after the ")" of the command name: state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

export interface RunResult {
  code: number | null;
  wallMs: number;
  /** Peak RSS of the process itself (not its children), bytes. */
  peakRss: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end, sampling VmHWM every `sampleMs`. The peak is a
 * high-water mark, so a late sample is still right unless the process grew
 * in its last few milliseconds.
 */
export function runMeasured(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; sampleMs?: number } = {},
): Promise<RunResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const started = performance.now();
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let peakRss = 0;
  const sample = () => {
    const status = child.pid ? procStatus(child.pid) : null;
    if (status) peakRss = Math.max(peakRss, status.hwm);
  };
  const timer = setInterval(sample, options.sampleMs ?? 10);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    // "exit" comes before the streams close; the zombie's /proc entry has no memory figures
    child.once("close", (code) => {
      clearInterval(timer);
      resolve({ code, wallMs: performance.now() - started, peakRss, stdout, stderr });
    });
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const MiB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
