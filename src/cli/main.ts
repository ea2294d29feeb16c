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

holdSignals(process.argv[2]);
await import("./program.js");
