/**
 * Build the release's own virtualenv, install it, smoke-test it. Nothing live
 * changes here: the venv is new (venvs/<dir>, never moved afterwards, so its
 * scripts' shebangs stay valid) and the release is still in staging.
 *
 * Nothing of the release runs before install.command: `python -m venv` runs
 * in isolated mode (-I: no current directory or PYTHON* variables on the
 * path) from the venvs folder, so a `venv.py` at the release root is never
 * imported. The venv is 0700 until rotation (openVenv): no local user can
 * plant a module in it between pip and the smoke test. Commands are named by
 * their program alone in errors, so a credential in install.command never
 * reaches a log, state.json or a report (process/redact.ts).
 */
import { chmod, mkdir, rm, rmdir, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { UpdaterError } from "../../errors.js";
import { type CommandOutcome, describeOutcome, runCommand } from "../../process/run-command.js";
import { expandArgv, type Placeholders } from "../placeholders.js";
import { copySeed, markSeedComplete, seedFits } from "./venv-seed.js";

export interface InstallInput {
  python: string;
  command: readonly string[];
  smoke: readonly string[];
  /** For the message ("timed out after N s"); timeoutMs is what runs. */
  timeoutS: number;
  timeoutMs: number;
  placeholders: Placeholders;
  /** Aborted on a stop request: the running command is terminated (the cycle is abandoned). */
  stop?: AbortSignal;
  /** state_dir/venv-seed: the installed pip each new venv gets a copy of (venv-seed.ts). */
  seed: string;
  /** The clock, for the seed's age. */
  now: () => Date;
}

/** How the venv got its pip, and how long each command took. */
export interface Installed {
  pip: "seed" | "ensurepip";
  /** Why the seed was not used, when it was there to use. */
  seedRefused: string | null;
  /** Building the seed first (a first install, a new interpreter): its ms, else 0. */
  seedBuiltMs: number;
  venvMs: number;
  commandMs: number;
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

/** The venv's mode while it is built. */
const BUILDING_MODE = 0o700;
const LIVE_MODE = 0o755;

async function run(
  argv: string[],
  input: InstallInput,
  code: "E_INSTALL" | "E_SMOKE",
  what: string,
  cwd = input.placeholders.release,
  /** Where a full disk is looked for when the command fails. */
  disk = dirname(input.placeholders.venv),
): Promise<CommandOutcome> {
  const outcome = await runCommand(argv, {
    cwd,
    timeoutMs: input.timeoutMs,
    ...(input.stop ? { signal: input.stop } : {}),
  });
  if (!outcome.ok) {
    // A full disk is the host's fault, not the release's: E_DISK never marks a
    // release failed. pip usually says so; `python -m venv` hides ensurepip's
    // output, so the file system is asked as well (before the venv is removed).
    const free = await freeBytes(disk);
    const full = DISK_FULL.test(outcome.stderrTail) || (free !== null && free < FULL_BELOW);
    throw new CommandFailed(
      full ? "E_DISK" : code,
      `${what} (${argv[0]}): ${describeOutcome(outcome, input.timeoutS)}${
        full
          ? `; the disk is full (${free === null ? "?" : Math.floor(free / 1024)} KiB free under ${disk})`
          : ""
      }`,
      outcome.stderrTail,
    );
  }
  return outcome;
}

/** An empty folder for a venv, 0700 while it is built. */
async function emptyVenvDir(venv: string): Promise<void> {
  await rm(venv, { recursive: true, force: true });
  await mkdir(venv, { mode: BUILDING_MODE });
  await chmod(venv, BUILDING_MODE);
}

const venvArgv = (input: InstallInput, venv: string, withPip: boolean) => [
  input.python,
  "-I",
  "-m",
  "venv",
  ...(withPip ? [] : ["--without-pip"]),
  venv,
];

/**
 * Builds the seed, a venv of ensurepip's pip alone, where it stays (its
 * scripts name their own interpreter, so it is never moved). A build cut
 * short has no completion mark, and seedFits then asks for another.
 */
async function buildSeed(input: InstallInput, seed: string): Promise<void> {
  await mkdir(dirname(seed), { recursive: true, mode: BUILDING_MODE }); // state_dir, there already on a host
  await emptyVenvDir(seed);
  try {
    await run(
      venvArgv(input, seed, true),
      input,
      "E_INSTALL",
      "creating the venv",
      dirname(seed),
      dirname(seed),
    );
    await markSeedComplete(seed, input.now());
  } catch (error) {
    await rm(seed, { recursive: true, force: true });
    throw error;
  }
}

/**
 * `python -m venv --without-pip`, then pip copied from the seed (built first
 * when there is none, when it is a week old, or when another interpreter
 * made it). When the seed is not as its RECORD says, or cannot be built, it
 * is removed (the next install builds it again) and this venv is made by
 * ensurepip, as `python -m venv` alone would.
 */
async function createVenv(input: InstallInput): Promise<Omit<Installed, "commandMs">> {
  const { venv } = input.placeholders;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  await run(venvArgv(input, venv, false), input, "E_INSTALL", "creating the venv", dirname(venv));
  let seedBuiltMs = 0;
  try {
    if (!(await seedFits(input.seed, venv, input.now().getTime()))) {
      const building = performance.now();
      await buildSeed(input, input.seed);
      seedBuiltMs = Math.round(performance.now() - building);
    }
    await copySeed(input.seed, venv);
    return { pip: "seed", seedRefused: null, seedBuiltMs, venvMs: elapsed() };
  } catch (error) {
    // A stop ends the install here. Anything else (the seed refused, or its build failing on
    // state_dir's own disk) leaves this venv to ensurepip, as `python -m venv` alone did.
    if (input.stop?.aborted) throw error;
    // a cache: what cannot be removed now (state_dir not a folder) is built over next time
    await rm(input.seed, { recursive: true, force: true }).catch(() => undefined);
    await emptyVenvDir(venv);
    await run(venvArgv(input, venv, true), input, "E_INSTALL", "creating the venv", dirname(venv));
    const reason = error instanceof Error ? error.message : String(error);
    return { pip: "ensurepip", seedRefused: reason, seedBuiltMs, venvMs: elapsed() };
  }
}

/** Creates the venv and runs install.command. Removes the venv again if anything fails. */
export async function installRelease(input: InstallInput): Promise<Installed> {
  const { venv } = input.placeholders;
  try {
    await mkdir(dirname(venv), { recursive: true, mode: LIVE_MODE });
    await emptyVenvDir(venv);
    const created = await createVenv(input);
    const outcome = await run(
      expandArgv(input.command, input.placeholders),
      input,
      "E_INSTALL",
      "install.command",
    );
    return { ...created, commandMs: Math.round(outcome.ms) };
  } catch (error) {
    await rm(venv, { recursive: true, force: true });
    // venv creates venvs/ on a first install; leave the install dir as it was
    await rmdir(dirname(venv)).catch(() => undefined); // only succeeds when empty
    throw error;
  }
}

/** The venv goes live with its release (the rotate step): readable by others, as a release is. */
export async function openVenv(venv: string): Promise<void> {
  await chmod(venv, LIVE_MODE);
}

/** Runs install.smoke in the staged venv; an empty list disables it. */
export async function smokeTest(input: InstallInput): Promise<boolean> {
  if (input.smoke.length === 0) return false;
  await run(expandArgv(input.smoke, input.placeholders), input, "E_SMOKE", "install.smoke");
  return true;
}
