import type { Command } from "commander";
import { UpdaterError } from "../../errors.js";
import { exitCodeForError } from "../exit-codes.js";
import { CONFIG_OPTION, printError, printLine } from "../output.js";

export function registerClear(program: Command): void {
  program
    .command("clear")
    .description(
      "forget that release SHA failed, or (--state) accept a fresh state after a corrupt state.json",
    )
    .argument("[sha]", "the release sha to try again")
    .option(...CONFIG_OPTION)
    .option("--state", "start from an empty state.json (accepts any manifest serial again)")
    .action(async (sha: string | undefined, options: { config?: string; state?: boolean }) => {
      const { commandContext } = await import("../../host/command-context.js");
      const { runClear } = await import("../../agent/clear.js");
      try {
        if (Boolean(sha) === Boolean(options.state)) {
          throw new UpdaterError("E_USAGE", "clear takes a release SHA or --state (one of them)");
        }
        const context = await commandContext(options.config);
        printLine(await runClear(context.config, { sha, state: options.state === true }));
      } catch (error) {
        printError(error);
        process.exitCode = exitCodeForError(error);
      }
    });
}
