import type { Command } from "commander";
import { configPath } from "../../host/command-context.js";
import type { AgentEnv } from "../../host/deps.js";
import { exitCodeForError } from "../exit-codes.js";
import { heldSignals } from "../held-signals.js";
import { CONFIG_OPTION, printError } from "../output.js";
import { keepYoungGenerationSmall } from "../v8-flags.js";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("daemon: recover, then check and update on the schedule (logs on stdout)")
    .option(...CONFIG_OPTION)
    .addHelpText(
      "after",
      "\nSignals: SIGTERM/SIGINT stop (an update not yet rotated is abandoned, one rotated finishes first), SIGHUP reloads the configuration.\nExit codes: 0 stopped, 1 error at start, 75 another daemon runs, 64 usage,\n99 a new updater release was installed: start again (under systemd; off systemd it re-executes itself).",
    )
    .action(async (options: { config?: string }) => {
      const { loadConfig } = await import("../../config/load.js");
      const { commandContext } = await import("../../host/command-context.js");
      const { runDaemon, EXIT_RESTART } = await import("../../daemon/run.js");
      let code: number;
      let env: AgentEnv = {};
      try {
        const context = await commandContext(options.config, process.stdout);
        keepYoungGenerationSmall();
        env = context.env;
        code = await runDaemon({
          config: context.config,
          reload: () => loadConfig(configPath(options.config)),
          deps: context,
          signals: heldSignals,
        });
      } catch (error) {
        printError(error);
        code = exitCodeForError(error);
      }
      if (code === EXIT_RESTART && !env.INVOCATION_ID && env.DECNET_UPDATER_LAUNCHER) {
        // Off systemd nobody restarts us: start the launcher again (it counts the new release's
        // trial) and leave. Node cannot exec(2); the new process takes over stdout and stderr.
        const { spawn } = await import("node:child_process"); // not at start: it loads net and dgram
        spawn(env.DECNET_UPDATER_LAUNCHER, process.argv.slice(2), {
          detached: true,
          stdio: "inherit",
        }).unref();
        code = 0;
      }
      // node-cron's and undici's timers must not keep a stopped daemon alive.
      process.exit(code);
    });
}
