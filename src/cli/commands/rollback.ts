import type { Command } from "commander";
import {
  CONFIG_OPTION,
  failCommand,
  JSON_OPTION,
  printJson,
  printLine,
  shortRef,
} from "../output.js";

export function registerRollback(program: Command): void {
  program
    .command("rollback")
    .description("swap to the previous release, flip venv, restore its units, restart, probe")
    .option(...CONFIG_OPTION)
    .option(...JSON_OPTION)
    .option("--force", "roll back even to a release marked failed on this host")
    .addHelpText(
      "after",
      "\nExit codes: 0 rolled back and healthy; 1 nothing to roll back to (or it is marked failed); 3 the previous release is not healthy; 64 usage.",
    )
    .action(async (options: { config?: string; json?: boolean; force?: boolean }) => {
      const { commandContext } = await import("../../host/command-context.js");
      const { runRollback } = await import("../../agent/rollback.js");
      try {
        const context = await commandContext(options.config);
        const result = await runRollback(context.config, context, {
          force: options.force === true,
        });
        if (options.json) {
          printJson({
            status: result.status,
            from: result.from,
            to: result.to,
            error: result.error,
            steps: result.steps,
            report_id: result.report.id,
            manual: true,
          });
        } else {
          const line = `${result.status.replace(/_/g, " ")}: ${shortRef(result.from)} -> ${shortRef(result.to)}`;
          printLine(result.error ? `${line}: ${result.error}` : line);
        }
        process.exitCode = result.exitCode;
      } catch (error) {
        failCommand(error, options.json, "failed");
      }
    });
}
