/**
 * Build the release's own virtualenv, install it, smoke-test it. Nothing live
 * changes here: the venv is new (venvs/<dir>, never moved afterwards, so its
 * scripts' shebangs stay valid) and the release is still in staging.
 */
import { rm } from "node:fs/promises";
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
    code: "E_INSTALL" | "E_SMOKE",
    message: string,
    readonly stderrTail: string,
  ) {
    super(code, message);
  }
}

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
    throw new CommandFailed(
      code,
      `${what} (${argv.join(" ")}): ${describeOutcome(outcome, input.timeoutS)}`,
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
    throw error;
  }
}

/** Runs install.smoke in the staged venv; an empty list disables it. */
export async function smokeTest(input: InstallInput): Promise<boolean> {
  if (input.smoke.length === 0) return false;
  await run(expandArgv(input.smoke, input.placeholders), input, "E_SMOKE", "install.smoke");
  return true;
}
