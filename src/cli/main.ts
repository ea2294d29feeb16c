#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The program's entry. The flag on the line above (GNU env -S splits it off;
 * coreutils >= 8.30): a 2 MiB young generation instead of V8's 16 MiB takes
 * about 25 MiB off the peak RSS of an update for no measurable time
 * (docs/performance.md).
 *
 * Its first act is to hold the signals the daemon and `update` handle
 * (held-signals.ts): only then is the rest of the program loaded.
 */
import { holdSignals } from "./held-signals.js";

// `decnet-updater status | head -1`: the reader left; what is left to print goes nowhere, quietly.
// Not the daemon: it logs to stdout (the journal), and without it had better stop and be restarted.
if (process.argv[2] !== "run")
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });

if (process.argv.length === 3 && process.argv[2] === "--version") {
  // commander would answer the same; loading it and every command's module costs more than Node's start-up
  const { UPDATER_VERSION } = await import("../version.js");
  process.stdout.write(`${UPDATER_VERSION}\n`);
} else {
  holdSignals(process.argv[2]);
  await import("./program.js");
}
