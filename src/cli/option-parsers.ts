/** Parsers of option values that several commands share; a bad value is commander's usage error (exit 64). */
import { InvalidArgumentError } from "commander";
import { parseDurationSeconds } from "../config/duration.js";

/** "90s", "15m", "24h", "14d": seconds. */
export function durationOption(value: string): number {
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined)
    throw new InvalidArgumentError('expected a duration like "14d", "12h" or "30m"');
  return seconds;
}

/** A duration, or "0" for none (a wait that may be skipped). */
export function durationOrZeroOption(value: string): number {
  return value === "0" ? 0 : durationOption(value);
}

/** A repeatable option's values, in order. */
export function collectOption(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** An integer percent, 0 to 100. */
export function percentOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 100)
    throw new InvalidArgumentError("expected an integer from 0 to 100");
  return n;
}
