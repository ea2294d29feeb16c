import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { CONFIG_OPTION, failCommand, printJson, printLine, shortRef } from "../output.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("fetch and verify the manifest, decide; changes nothing installed")
    .option(...CONFIG_OPTION)
    .option("--json", "print one JSON object on stdout")
    .addHelpText(
      "after",
      "\nExit codes: 0 up to date, held or skipped; 100 update available; 1 error; 64 usage.",
    )
    .action(async (options: { config?: string; json?: boolean }) => {
      const { commandContext } = await import("../context.js");
      const { runCheck } = await import("../../agent/check.js");
      try {
        const context = await commandContext(options.config);
        const result = await runCheck(context.config, context);
        if (options.json) printJson({ ...result, error: null });
        else if (result.status === "update_available") {
          printLine(`update available: ${shortRef(result.from)} -> ${shortRef(result.to)}`);
        } else printLine(`${result.status.replace(/_/g, " ")}: ${result.reason}`);
        process.exitCode = result.status === "update_available" ? EXIT.updateAvailable : EXIT.ok;
      } catch (error) {
        failCommand(error, options.json, "error");
      }
    });
}
