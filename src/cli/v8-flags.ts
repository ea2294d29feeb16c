/**
 * V8 flags, set at run time once a command's modules are loaded and before
 * its work starts. Not on the command line: any V8 flag changes the hash
 * Node checks its built-in code cache against, and every built-in module
 * loaded after it (tls, http2, crypto...) is compiled from source: about
 * 20 ms of CPU when set at start; once a command's modules are loaded,
 * only what loads later pays (the install path's few, a few ms)
 * (docs/performance.md, "Round three").
 */
import { setFlagsFromString } from "node:v8";

/**
 * One cycle, then exit (`update`, `check`, `plan`): undici's HTTP parser
 * (WebAssembly) is compiled by Liftoff alone. V8 also compiles it with
 * TurboFan in the background and the exit waits for that (about 250 ms of
 * CPU). The daemon (`run`) keeps TurboFan: it parses for hours. Only where
 * Liftoff covers everything: elsewhere the flag turns a bailout into an abort.
 */
export function compileWasmWithLiftoffOnly(): void {
  if (process.arch === "x64" || process.arch === "arm64") setFlagsFromString("--liftoff-only");
}

/**
 * The young generation stays at its first 1 MiB semi-space instead of
 * growing to V8's 16 MiB while a release streams through (`update`, `run`,
 * `plan`): an update's peak RSS then stays flat from a 32 MiB release to a
 * 256 MiB one, where it grew by 14 % without. V8 reads the growth factor
 * each time it would grow the space, so it works set at run time, where
 * `--max-semi-space-size` (read once, at start) does not.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}
