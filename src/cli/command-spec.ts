/**
 * A command described as data: its name, options and action. commander
 * reads it through registerCommand; main.ts reads the same description to
 * run `update`, `check` and `status` without loading commander when their
 * arguments are plain (simple-argv.ts), so the two ways cannot disagree on
 * what a command takes.
 */
import type { Command } from "commander"; // a type: erased, nothing is loaded

/**
 * commander's two arguments to `.option()`: its flags, long form only
 * (`--json`, or `--config <file>` for one that takes a value), and its help line.
 */
export type OptionSpec = readonly [flags: string, description: string];

/** What commander hands an action: camelCased long names, `true` for a flag, the text for a value. */
export type ParsedOptions = Record<string, string | true | undefined>;

/** A value option as an action gets it (a flag's `true` is no value). */
export function stringOption(value: string | true | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export interface CommandSpec {
  name: string;
  description: string;
  options: readonly OptionSpec[];
  /** Printed after the options in `--help` (exit codes, signals). */
  helpAfter?: string;
  action(options: ParsedOptions): Promise<void>;
}

export function registerCommand(program: Command, spec: CommandSpec): void {
  const command = program.command(spec.name).description(spec.description);
  for (const option of spec.options) command.option(...option);
  if (spec.helpAfter !== undefined) command.addHelpText("after", spec.helpAfter);
  command.action((options: ParsedOptions) => spec.action(options));
}
