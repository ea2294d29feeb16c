/**
 * Durations in config and on the command line: "90s", "15m", "24h", "14d".
 * One unit per value keeps them unambiguous in a TOML file read by people.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds in `text`, or undefined when it is not a duration. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number);
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}

/** Seconds from a config key to milliseconds: done once, at load (config/validate.ts). */
export function msOf(seconds: number): number {
  return Math.round(seconds * 1000);
}
