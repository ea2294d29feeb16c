#!/usr/bin/env node
/**
 * The program's entry. No V8 flag on the line above: the flags the program
 * wants are set at run time, once a command's modules are loaded (v8-flags.ts
 * says why).
 *
 * Its first act is to hold the signals the daemon and `update` handle
 * (held-signals.ts): only then is any command's code loaded (what comes
 * before is this file's few small modules, in the same bundle). Then the
 * shortest way to the command: `--version` alone prints it; `update`,
 * `check` and `status` with plain options (simple-argv.ts) run their action
 * without commander; every other line goes to commander (program.ts).
 *
 * No top-level await: the bundle builds this file as CommonJS
 * (scripts/bundle.ts).
 */
import type { CommandSpec } from "./command-spec.js"; // a type: erased, nothing is loaded
import { FAST_COMMAND_OPTIONS, type FastCommand } from "./fast-options.js";
import { holdSignals } from "./held-signals.js";
import { failUncaught } from "./output.js";
import { simpleOptions } from "./simple-argv.js";

// `decnet-updater status | head -1`: the reader left; what is left to print goes nowhere, quietly.
// Not the daemon: it logs to stdout (the journal), and without it had better stop and be restarted.
if (process.argv[2] !== "run")
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });

/** How to load each command main.ts can run without commander (a timer runs `update` every few minutes). */
const FAST_COMMANDS: Record<FastCommand, () => Promise<CommandSpec>> = {
  update: async () => (await import("./commands/update.js")).updateCommand,
  check: async () => (await import("./commands/check.js")).checkCommand,
  status: async () => (await import("./commands/status.js")).statusCommand,
};

function isFastCommand(command: string | undefined): command is FastCommand {
  return command !== undefined && Object.hasOwn(FAST_COMMANDS, command);
}

async function main(command: string | undefined, args: string[]): Promise<void> {
  if (command === "--version" && args.length === 0) {
    // commander would answer the same; loading it and every command's module costs more than Node's start-up
    const { UPDATER_VERSION } = await import("../version.js");
    process.stdout.write(`${UPDATER_VERSION}\n`);
    return;
  }
  holdSignals(command);
  // Nothing this program (or pip under it) creates as root may be writable by
  // group or others, whatever umask it was started with (docs/security.md).
  process.umask(process.umask() | 0o022);
  if (isFastCommand(command)) {
    const options = simpleOptions(args, FAST_COMMAND_OPTIONS[command]);
    if (options) {
      await (await FAST_COMMANDS[command]()).action(options);
      return;
    }
  }
  await import("./program.js");
}

// what a command lets escape, or a bundle that does not load: one line, exit 1, as commander's way ends
main(process.argv[2], process.argv.slice(3)).catch(failUncaught);
