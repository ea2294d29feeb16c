import { type CommandSpec, stringOption } from "../command-spec.js";
import { EXIT } from "../exit-codes.js";
import { FAST_COMMAND_OPTIONS } from "../fast-options.js";
import { failCommand, printJson, printLine, shortRef } from "../output.js";
import { compileWasmWithLiftoffOnly } from "../v8-flags.js";

export const checkCommand: CommandSpec = {
  name: "check",
  description: "fetch and verify the manifest, decide; changes nothing installed",
  options: FAST_COMMAND_OPTIONS.check,
  helpAfter:
    "\nExit codes: 0 up to date, held or skipped; 100 update available; 1 error; 64 usage.",
  async action(options) {
    const { commandContext } = await import("../../host/command-context.js");
    const { runCheck } = await import("../../agent/check.js");
    try {
      const context = await commandContext(stringOption(options.config));
      compileWasmWithLiftoffOnly();
      const result = await runCheck(context.config, context);
      if (options.json) printJson({ ...result, error: null });
      else if (result.status === "update_available") {
        printLine(`update available: ${shortRef(result.from)} -> ${shortRef(result.to)}`);
      } else printLine(`${result.status.replace(/_/g, " ")}: ${result.reason}`);
      process.exitCode = result.status === "update_available" ? EXIT.updateAvailable : EXIT.ok;
    } catch (error) {
      failCommand(error, options.json === true, "error");
    }
  },
};
