import type { Command } from "commander";
import { exitCodeForError } from "../exit-codes.js";
import { durationOption } from "../option-parsers.js";
import { printError, printJson } from "../output.js";
import { loadMaster, RECEIVER_CONFIG_OPTION, receiverConfigPath } from "./master-only.js";

export function registerFleet(program: Command): void {
  program
    .command("fleet")
    .description(
      "on the master: the fleet as its hosts reported it (releases, failing and stale hosts)",
    )
    .option(...RECEIVER_CONFIG_OPTION)
    .option("--json", "one JSON object on stdout")
    .option(
      "--stale <duration>",
      "a host not heard from for this long is stale (default: the config's stale, 1d)",
      durationOption,
    )
    .option("--host <host_id>", "that host's newest reports, with their steps")
    .action(async (flags: { config?: string; json?: boolean; stale?: number; host?: string }) => {
      let db: { close(): Promise<void> } | undefined;
      try {
        const [{ loadReceiverConfig }, { openStore }, summary, text] = await loadMaster(() =>
          Promise.all([
            import("../../master/config.js"),
            import("../../master/store/open.js"),
            import("../../master/fleet/summary.js"),
            import("../../master/fleet/text.js"),
          ]),
        );
        const config = await loadReceiverConfig(receiverConfigPath(flags.config));
        const store = await openStore(config.store, "read");
        db = store;
        if (flags.host !== undefined) {
          const reports = await summary.hostReports(store, flags.host);
          if (flags.json) printJson({ host_id: flags.host, reports });
          else process.stdout.write(text.renderHostText(flags.host, reports));
          return;
        }
        const fleet = await summary.fleetSummary(
          store,
          new Date(),
          flags.stale ?? config.staleAfterS,
        );
        if (flags.json) printJson(fleet);
        else process.stdout.write(text.renderFleetText(fleet));
      } catch (error) {
        printError(error);
        process.exitCode = exitCodeForError(error);
      } finally {
        await db?.close();
      }
    });
}
