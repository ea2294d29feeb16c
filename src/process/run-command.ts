/**
 * Runs one command of the install (venv creation, install.command,
 * install.smoke) with a timeout, keeping only the last 8 KiB of its stderr:
 * what a report carries and all an operator needs to see why pip failed,
 * without holding a verbose build log in memory. The tail is redacted
 * (redact.ts): it goes into reports and state.json.
 */
import { redactedTail } from "./redact.js";

export const STDERR_TAIL_BYTES = 8 * 1024;

export interface CommandOutcome {
  ok: boolean;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  /** Set when the command could not be started at all: the errno code (ENOENT, EACCES). */
  spawnError: string | undefined;
  stderrTail: string;
  ms: number;
}

export interface RunOptions {
  cwd: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

export async function runCommand(
  argv: readonly string[],
  options: RunOptions,
): Promise<CommandOutcome> {
  const [file, ...args] = argv as [string, ...string[]];
  const started = performance.now();
  let tail = Buffer.alloc(0);
  let cut = false;
  // loaded on first use: a cycle that installs nothing never needs it (docs/performance.md)
  const { execa } = await import("execa");
  const subprocess = execa(file, args, {
    cwd: options.cwd,
    timeout: options.timeoutMs,
    env: { ...options.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" },
    extendEnv: true,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    buffer: false,
    reject: false,
    // SIGTERM first; pip gets a moment to clean up before SIGKILL
    forceKillAfterDelay: 5000,
  });
  subprocess.stderr?.on("data", (chunk: Buffer) => {
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > STDERR_TAIL_BYTES) {
      tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
      cut = true;
    }
  });
  const result = await subprocess;
  // execa's own message quotes the whole command line, secrets included: keep the code only.
  const spawnError =
    result.failed && result.exitCode === undefined && !result.isTerminated
      ? String((result as { code?: unknown }).code ?? "error")
      : undefined;
  return {
    ok: !result.failed,
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    spawnError,
    stderrTail: redactedTail(tail, cut),
    ms: Math.round(performance.now() - started),
  };
}

/** One line for an error message: "exit 1", "killed by SIGKILL after the 900 s timeout". */
export function describeOutcome(outcome: CommandOutcome, timeoutS: number): string {
  if (outcome.spawnError) return `could not start (${outcome.spawnError})`;
  if (outcome.timedOut) return `timed out after ${timeoutS} s`;
  if (outcome.signal) return `killed by ${outcome.signal}`;
  return `exit ${outcome.exitCode}`;
}
