import type { Command } from "commander";
import { oneLine } from "../../errors.js";
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
        const [{ loadReceiverConfig }, { startReceiver }, { createLogger, logFormatFor }] =
          await loadMaster(() =>
            Promise.all([
              import("../../master/config.js"),
              import("../../master/receiver.js"),
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
        const receiver = await startReceiver(config, log);
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            log.info({ signal }, `Stopping on ${signal}: finishing the requests in flight.`);
            resolve();
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
          process.on("SIGHUP", () =>
            log.info("SIGHUP: nothing to reload; restart to read the config again."),
          );
        });
        await receiver
          .close()
          .catch((error) =>
            log.error({ code: "E_STORE" }, `Store not closed cleanly: ${oneLine(error)}`),
          );
      } catch (error) {
        printError(error);
        process.exitCode = exitCodeForError(error);
      }
    });
}
