/**
 * Runs one command of the install (venv creation, install.command,
 * install.smoke) with a timeout, keeping only the last 8 KiB of its stderr:
 * what a report carries and all an operator needs to see why pip failed,
 * without holding a verbose build log in memory. The tail is redacted
 * (redact.ts): it goes into reports and state.json.
 */
import { redactedTail } from "./redact.js";

export const STDERR_TAIL_BYTES = 8 * 1024;
/** After SIGTERM on a timeout or a stop, the command's group gets SIGKILL this much later. */
const FORCE_KILL_AFTER_MS = 5000;

export interface CommandOutcome {
  ok: boolean;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  /** Terminated because RunOptions.signal was aborted. */
  canceled: boolean;
  /** Set when the command could not be started at all: the errno code (ENOENT, EACCES). */
  spawnError: string | undefined;
  stderrTail: string;
  ms: number;
}

export interface RunOptions {
  cwd: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Terminates the command when aborted (SIGTERM, then SIGKILL after 5 s, as for the timeout). */
  signal?: AbortSignal;
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
    env: { ...options.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" },
    extendEnv: true,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    buffer: false,
    reject: false,
    // Its own process group, ended as a whole on a timeout or a stop. execa's own timeout and
    // cancelSignal signal the command's pid only: the venv's ensurepip, pip's build backends or
    // an `sh -c` wrapper's children lived on, and their copy of stderr held the result until
    // they exited (a `systemctl stop` waited a minute for a `sleep 60` under sh).
    detached: true,
  });
  let ended: "timeout" | "stop" | null = null;
  let forceKill: NodeJS.Timeout | undefined;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (subprocess.pid === undefined) return;
    try {
      process.kill(-subprocess.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const end = (why: "timeout" | "stop") => {
    if (ended) return;
    ended = why;
    signalGroup("SIGTERM");
    // pip gets a moment to clean up before SIGKILL. A child that left the group (setsid) and
    // still holds stderr would keep the result waiting: stop reading it then.
    forceKill = setTimeout(() => {
      signalGroup("SIGKILL");
      subprocess.stderr?.destroy();
    }, FORCE_KILL_AFTER_MS);
  };
  const timer = setTimeout(() => end("timeout"), options.timeoutMs);
  // Its own group is out of reach of execa's cleanup: if this process exits while the
  // command runs (an uncaught error off systemd), the command goes with it.
  const onExit = () => signalGroup("SIGKILL");
  process.once("exit", onExit);
  const onStop = () => end("stop");
  if (options.signal?.aborted) onStop();
  else options.signal?.addEventListener("abort", onStop, { once: true });
  subprocess.stderr?.on("data", (chunk: Buffer) => {
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > STDERR_TAIL_BYTES) {
      tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
      cut = true;
    }
  });
  let result: Awaited<typeof subprocess>;
  try {
    result = await subprocess;
  } finally {
    clearTimeout(timer);
    clearTimeout(forceKill);
    process.off("exit", onExit);
    options.signal?.removeEventListener("abort", onStop);
  }
  // execa's own message quotes the whole command line, secrets included: keep the code only.
  const spawnError =
    result.failed && result.exitCode === undefined && !result.isTerminated
      ? String((result as { code?: unknown }).code ?? "error")
      : undefined;
  return {
    ok: !result.failed && ended === null,
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: ended === "timeout",
    canceled: ended === "stop",
    spawnError,
    stderrTail: redactedTail(tail, cut),
    ms: Math.round(performance.now() - started),
  };
}

/** One line for an error message: "exit 1", "killed by SIGKILL after the 900 s timeout". */
export function describeOutcome(outcome: CommandOutcome, timeoutS: number): string {
  if (outcome.spawnError) return `could not start (${outcome.spawnError})`;
  if (outcome.timedOut) return `timed out after ${timeoutS} s`;
  if (outcome.canceled) return "stopped: the updater was asked to stop";
  if (outcome.signal) return `killed by ${outcome.signal}`;
  return `exit ${outcome.exitCode}`;
}
