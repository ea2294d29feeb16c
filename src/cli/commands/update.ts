import type { Command } from "commander";
import { heldSignals } from "../held-signals.js";
import { CONFIG_OPTION, failCommand, printJson, printLine, shortRef } from "../output.js";

export function registerUpdate(program: Command): void {
  program
    .command("update")
    .description("one full cycle now: fetch, verify, install, restart, probe, roll back on failure")
    .option(...CONFIG_OPTION)
    .option("--json", "print one JSON object on stdout")
    .option("--force", "reinstall even when the sha matches; ignore failed-release marks")
    .addHelpText(
      "after",
      "\nSignals: SIGTERM/SIGINT before rotation abandon the update (nothing changed, exit 75); after it the update finishes.\nExit codes: 0 updated, up to date or held; 1 failed, nothing changed; 2 rolled back, previous release healthy;\n3 rollback failed, the host needs an operator; 64 usage; 75 another instance holds the lock, or the update was\ninterrupted (a stop before rotation; a shutdown after it, which the next start finishes).",
    )
    .action(async (options: { config?: string; json?: boolean; force?: boolean }) => {
      // One cycle, then exit: undici's HTTP parser (WebAssembly) is compiled by Liftoff alone.
      // V8 also compiles it with TurboFan in the background and the exit waits for that
      // (about 250 ms of CPU). The daemon (`run`) keeps TurboFan: it parses for hours.
      // Only where Liftoff covers everything: elsewhere the flag turns a bailout into an abort.
      if (process.arch === "x64" || process.arch === "arm64")
        (await import("node:v8")).setFlagsFromString("--liftoff-only");
      const { commandContext } = await import("../context.js");
      const { runUpdate } = await import("../../cycle/run-update.js");
      // SIGTERM/SIGINT: before rotation the update is abandoned (exit 75), after it it finishes.
      const stopping = new AbortController();
      const onStop = () => stopping.abort();
      heldSignals.on("SIGTERM", onStop);
      heldSignals.on("SIGINT", onStop);
      try {
        const context = await commandContext(options.config);
        const { warnUnwritable } = await import("../../host/writable-paths.js");
        await warnUnwritable(context.config, context.log);
        const result = await runUpdate(
          context.config,
          { ...context, stop: stopping.signal },
          { force: options.force === true },
        );
        if (options.json) {
          printJson({
            status: result.status,
            verdict: result.verdict,
            reason: result.reason,
            from: result.from,
            to: result.to,
            error: result.error,
            code: result.code,
            stderr: result.stderr,
            steps: result.steps,
            report_id: result.report?.id ?? null,
            self: result.self,
          });
        } else {
          const line = `${result.status.replace(/_/g, " ")}: ${shortRef(result.from)} -> ${shortRef(result.to)}`;
          printLine(result.error ? `${line}: ${result.error}` : line);
          const self = result.self;
          if (self && self.status !== "disabled")
            printLine(`updater ${self.status.replace(/_/g, " ")}: ${self.reason}`);
        }
        process.exitCode = result.exitCode;
      } catch (error) {
        failCommand(error, options.json, "failed", {
          verdict: null,
          reason: null,
          steps: [],
          report_id: null,
        });
      }
    });
}
