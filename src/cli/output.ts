/** --json discipline: exactly one JSON object on stdout, nothing else there. */
import { oneLine } from "../errors.js";

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
