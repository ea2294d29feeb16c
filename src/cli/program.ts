/**
 * decnet-updater's command line: argv -> command -> exit code (SPEC section 7).
 * Usage errors exit 64; every other outcome is set by the command itself.
 * Loaded by main.ts once the signals are held, for every command line
 * main.ts does not run itself (main.ts, simple-argv.ts).
 */
import { Command, CommanderError } from "commander";
import { UPDATER_VERSION } from "../version.js";
import { registerCommand } from "./command-spec.js";
import { checkCommand } from "./commands/check.js";
import { registerClear } from "./commands/clear.js";
import { registerFleet } from "./commands/fleet.js";
import { registerKeygen } from "./commands/keygen.js";
import { registerPlan } from "./commands/plan.js";
import { registerPublish } from "./commands/publish.js";
import { registerReceive } from "./commands/receive.js";
import { registerRollback } from "./commands/rollback.js";
import { registerRollout } from "./commands/rollout.js";
import { registerRun } from "./commands/run.js";
import { statusCommand } from "./commands/status.js";
import { updateCommand } from "./commands/update.js";
import { EXIT } from "./exit-codes.js";
import { failUncaught } from "./output.js";

export function buildProgram(): Command {
  const program = new Command("decnet-updater")
    .description("Pull-based, signed update agent for DECNET worker hosts.")
    .version(UPDATER_VERSION, "--version", "print the version")
    .helpOption("-h, --help", "show help")
    .showHelpAfterError("(run with --help for usage)")
    // Program options only before the command: `publish --version 1.2.3` is the release's version.
    .enablePositionalOptions()
    .exitOverride();
  registerRun(program);
  registerCommand(program, checkCommand);
  registerCommand(program, updateCommand);
  registerPlan(program);
  registerRollback(program);
  registerCommand(program, statusCommand);
  registerClear(program);
  registerKeygen(program);
  registerPublish(program);
  // the master's side (issue 18): src/master/ is loaded only when these run
  registerReceive(program);
  registerFleet(program);
  registerRollout(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      process.exitCode = EXIT.usage;
      return;
    }
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      const clean = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(
        error.code,
      );
      process.exitCode = clean ? EXIT.ok : EXIT.usage;
      return;
    }
    failUncaught(error);
  }
}

await main(process.argv);
