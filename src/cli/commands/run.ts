import type { Command } from "commander";
import { configPath } from "../context.js";
import { exitCodeForError } from "../exit-codes.js";
import { CONFIG_OPTION, printError } from "../output.js";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("daemon: recover, then check and update on the schedule (logs on stdout)")
    .option(...CONFIG_OPTION)
    .addHelpText(
      "after",
      "\nSignals: SIGTERM/SIGINT stop (after the current update), SIGHUP reloads the configuration.\nExit codes: 0 stopped, 1 error at start, 75 another daemon runs, 64 usage.",
    )
    .action(async (options: { config?: string }) => {
      const { loadConfig } = await import("../../config/load.js");
      const { commandContext } = await import("../context.js");
      const { runDaemon } = await import("../../daemon/run.js");
      let code: number;
      try {
        const context = await commandContext(options.config, process.stdout);
        code = await runDaemon({
          config: context.config,
          reload: () => loadConfig(configPath(options.config)),
          deps: context,
          signals: process,
        });
      } catch (error) {
        printError(error);
        code = exitCodeForError(error);
      }
      // node-cron's and undici's timers must not keep a stopped daemon alive.
      process.exit(code);
    });
}
