import { type CommandSpec, stringOption } from "../command-spec.js";
import { FAST_COMMAND_OPTIONS } from "../fast-options.js";
import { heldSignals } from "../held-signals.js";
import { failCommand, printJson, printLine, shortRef } from "../output.js";
import { compileWasmWithLiftoffOnly, keepYoungGenerationSmall } from "../v8-flags.js";

export const updateCommand: CommandSpec = {
  name: "update",
  description: "one full cycle now: fetch, verify, install, restart, probe, roll back on failure",
  options: FAST_COMMAND_OPTIONS.update,
  helpAfter:
    "\nSignals: SIGTERM/SIGINT before rotation abandon the update (nothing changed, exit 75); after it the update finishes.\nExit codes: 0 updated, up to date or held; 1 failed, nothing changed; 2 rolled back, previous release healthy;\n3 rollback failed, the host needs an operator; 64 usage; 75 another instance holds the lock, or the update was\ninterrupted (a stop before rotation; a shutdown after it, which the next start finishes).",
  async action(options) {
    const { commandContext } = await import("../../host/command-context.js");
    const { runUpdate } = await import("../../cycle/run-update.js");
    // SIGTERM/SIGINT: before rotation the update is abandoned (exit 75), after it it finishes.
    const stopping = new AbortController();
    const onStop = () => stopping.abort();
    heldSignals.on("SIGTERM", onStop);
    heldSignals.on("SIGINT", onStop);
    try {
      const context = await commandContext(stringOption(options.config));
      const { warnUnwritable } = await import("../../host/writable-paths.js");
      compileWasmWithLiftoffOnly();
      keepYoungGenerationSmall();
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
      failCommand(error, options.json === true, "failed", {
        verdict: null,
        reason: null,
        steps: [],
        report_id: null,
      });
    }
  },
};
