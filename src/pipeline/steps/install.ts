/**
 * Build the release's own virtualenv, install it, smoke-test it. Nothing live
 * changes here: the venv is new (venvs/<dir>, never moved afterwards, so its
 * scripts' shebangs stay valid) and the release is still in staging.
 */
import { rm, rmdir, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { UpdaterError } from "../../errors.js";
import { type CommandOutcome, describeOutcome, runCommand } from "../../process/run-command.js";
import { expandArgv, type Placeholders } from "../placeholders.js";

export interface InstallInput {
  python: string;
  command: readonly string[];
  smoke: readonly string[];
  timeoutS: number;
  placeholders: Placeholders;
}

/** Carries the failing command's stderr tail for the report. */
export class CommandFailed extends UpdaterError {
  constructor(
    code: "E_INSTALL" | "E_SMOKE" | "E_DISK",
    message: string,
    readonly stderrTail: string,
  ) {
    super(code, message);
  }
}

/** Less free space than this after a failed command means the disk filled up under it. */
const FULL_BELOW = 1024 * 1024;

async function freeBytes(path: string): Promise<number | null> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

/** How pip, venv and Python report ENOSPC and EDQUOT. */
const DISK_FULL = /No space left on device|Disk quota exceeded|\[Errno (28|122)\]/;

async function run(
  argv: string[],
  input: InstallInput,
  code: "E_INSTALL" | "E_SMOKE",
  what: string,
): Promise<CommandOutcome> {
  const outcome = await runCommand(argv, {
    cwd: input.placeholders.release,
    timeoutMs: input.timeoutS * 1000,
  });
  if (!outcome.ok) {
    // A full disk is the host's fault, not the release's: E_DISK never marks a
    // release failed. pip usually says so; `python -m venv` hides ensurepip's
    // output, so the file system is asked as well (before the venv is removed).
    const free = await freeBytes(dirname(input.placeholders.venv));
    const full = DISK_FULL.test(outcome.stderrTail) || (free !== null && free < FULL_BELOW);
    throw new CommandFailed(
      full ? "E_DISK" : code,
      `${what} (${argv.join(" ")}): ${describeOutcome(outcome, input.timeoutS)}${
        full
          ? `; the disk is full (${free === null ? "?" : Math.floor(free / 1024)} KiB free under ${dirname(input.placeholders.venv)})`
          : ""
      }`,
      outcome.stderrTail,
    );
  }
  return outcome;
}

/** Creates the venv and runs install.command. Removes the venv again if anything fails. */
export async function installRelease(input: InstallInput): Promise<void> {
  const { venv } = input.placeholders;
  await rm(venv, { recursive: true, force: true });
  try {
    await run([input.python, "-m", "venv", venv], input, "E_INSTALL", "creating the venv");
    await run(expandArgv(input.command, input.placeholders), input, "E_INSTALL", "install.command");
  } catch (error) {
    await rm(venv, { recursive: true, force: true });
    // venv creates venvs/ on a first install; leave the install dir as it was
    await rmdir(dirname(venv)).catch(() => undefined); // only succeeds when empty
    throw error;
  }
}

/** Runs install.smoke in the staged venv; an empty list disables it. */
export async function smokeTest(input: InstallInput): Promise<boolean> {
  if (input.smoke.length === 0) return false;
  await run(expandArgv(input.smoke, input.placeholders), input, "E_SMOKE", "install.smoke");
  return true;
}
