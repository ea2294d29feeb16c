import type { Command } from "commander";
import { exitCodeForError } from "../exit-codes.js";
import { printError } from "../output.js";
import { loadMaster, RECEIVER_CONFIG_OPTION, receiverConfigPath } from "./master-only.js";

export function registerReceive(program: Command): void {
  program
    .command("receive")
    .description("the master's report receiver: store what hosts report (runs until stopped)")
    .option(...RECEIVER_CONFIG_OPTION)
    .action(async (flags: { config?: string }) => {
      try {
        const [{ loadReceiverConfig }, { runReceiver }, { createLogger, logFormatFor }] =
          await loadMaster(() =>
            Promise.all([
              import("../../master/config.js"),
              import("../../master/workers.js"),
              import("../../log.js"),
            ]),
          );
        const config = await loadReceiverConfig(receiverConfigPath(flags.config));
        const log = createLogger(
          process.env.DECNET_UPDATER_LOG_LEVEL ?? "info",
          process.stdout,
          logFormatFor(process.stdout, process.env.DECNET_UPDATER_LOG_FORMAT),
          process.env.NO_COLOR === undefined,
        );
        process.exitCode = await runReceiver(config, log);
      } catch (error) {
        printError(error);
        process.exitCode = exitCodeForError(error);
      }
    });
}
