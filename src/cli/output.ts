/** --json discipline: exactly one JSON object on stdout, nothing else there. */
import { codeOf, oneLine } from "../errors.js";
import { EXIT, exitCodeForError } from "./exit-codes.js";

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** One line on stderr for a person; the program's name first, like coreutils. */
export function printError(error: unknown): void {
  process.stderr.write(`decnet-updater: ${oneLine(error)}\n`);
}

export function shortRef(ref: { sha: string; version: string | null } | null): string {
  if (!ref) return "nothing";
  return `${ref.version ?? "unknown version"} (${ref.sha.slice(0, 12)})`;
}

/** The --config option every command that reads the configuration takes. */
export const CONFIG_OPTION = [
  "--config <file>",
  "configuration file (default $DECNET_UPDATER_CONFIG or /etc/decnet/updater.toml)",
] as const;

/** The --json option of the commands that can answer in one JSON object. */
export const JSON_OPTION = ["--json", "print one JSON object on stdout"] as const;

/**
 * What a command let escape: one line on stderr, exit 1. main.ts and
 * program.ts end this way, with or without commander.
 */
export function failUncaught(error: unknown): void {
  printError(error);
  process.exitCode = EXIT.error;
}

/**
 * A command failed before it had a result: with --json one object carrying
 * `status`, the one-line error and its stable `code` (plus `extra`) on
 * stdout; the one line goes to stderr either way, so a person reading a
 * pipeline into jq still sees what went wrong. Sets the exit code from the
 * error's code.
 */
export function failCommand(
  error: unknown,
  json: boolean | undefined,
  status: string,
  extra: Record<string, unknown> = {},
): void {
  if (json) {
    printJson({
      status,
      from: null,
      to: null,
      error: oneLine(error),
      code: codeOf(error),
      ...extra,
    });
  }
  printError(error);
  process.exitCode = exitCodeForError(error);
}
