#!/usr/bin/env node
/**
 * The program's entry. No V8 flag on the line above: any flag changes the
 * hash Node checks its built-in code cache against, and every built-in
 * module is then compiled from source, about 20 ms of CPU at each start
 * (docs/performance.md, "Round three").
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
import type { CommandSpec, OptionSpec } from "./command-spec.js"; // types: erased, nothing is loaded
import { CHECK_OPTIONS, STATUS_OPTIONS, UPDATE_OPTIONS } from "./fast-options.js";
import { holdSignals } from "./held-signals.js";
import { failUncaught } from "./output.js";
import { simpleOptions } from "./simple-argv.js";

// `decnet-updater status | head -1`: the reader left; what is left to print goes nowhere, quietly.
// Not the daemon: it logs to stdout (the journal), and without it had better stop and be restarted.
if (process.argv[2] !== "run")
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });

/**
 * The commands worth a way around commander (a timer runs `update` every
 * few minutes): their options, read before any of their code is loaded.
 */
const SIMPLE_COMMANDS: Record<
  string,
  { options: readonly OptionSpec[]; load: () => Promise<CommandSpec> }
> = {
  update: {
    options: UPDATE_OPTIONS,
    load: async () => (await import("./commands/update.js")).updateCommand,
  },
  check: {
    options: CHECK_OPTIONS,
    load: async () => (await import("./commands/check.js")).checkCommand,
  },
  status: {
    options: STATUS_OPTIONS,
    load: async () => (await import("./commands/status.js")).statusCommand,
  },
};

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
  const simple =
    command !== undefined && Object.hasOwn(SIMPLE_COMMANDS, command)
      ? SIMPLE_COMMANDS[command]
      : undefined;
  const options = simple ? simpleOptions(args, simple.options) : null;
  if (simple && options) {
    await (await simple.load()).action(options);
    return;
  }
  await import("./program.js");
}

// what a command lets escape, or a bundle that does not load: one line, exit 1, as commander's way ends
main(process.argv[2], process.argv.slice(3)).catch(failUncaught);
