/**
 * The arguments of a command in their plainest forms, read without
 * commander: `update --config FILE --json` as a timer runs it every few
 * minutes. Loading commander and every command's description costs about a
 * third of Node's own start-up (docs/performance.md, "Round three"), and a
 * check that finds nothing new should cost little more than Node.
 *
 * Only what reads the same under commander is taken: long options from the
 * command's spec, each at most once, `--flag`, `--name VALUE` or
 * `--name=VALUE` with a value that is not empty and does not start with a
 * dash. Anything else (help, a short or unknown option, a repeat, `--`, a
 * stray word, an odd value) returns null and main.ts hands the whole line
 * to commander, which parses it or refuses it with its usual message. So
 * this parser never refuses anything itself, and test/cli/simple-argv.test.ts
 * checks that what it takes, commander takes the same way.
 */
import type { OptionSpec, ParsedOptions } from "./command-spec.js";

interface Known {
  key: string;
  takesValue: boolean;
}

/** commander's attribute name for a long option: `--dry-run` -> `dryRun`. */
function keyOf(long: string): string {
  return long.slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function knownOptions(specs: readonly OptionSpec[]): Map<string, Known> | null {
  const known = new Map<string, Known>();
  for (const [flags] of specs) {
    // words of letters only (commander camelCases `--ipv-6` otherwise), no `--no-` negation
    const match = /^(--[a-z]+(?:-[a-z]+)*)(?: <[a-z-]+>)?$/.exec(flags);
    if (!match?.[1] || match[1].startsWith("--no-")) return null; // commander decides
    known.set(match[1], { key: keyOf(match[1]), takesValue: flags.includes("<") });
  }
  return known;
}

function plainValue(value: string | undefined): value is string {
  return value !== undefined && value !== "" && !value.startsWith("-");
}

/** `args`: what follows the command's name. Null: let commander read them. */
export function simpleOptions(
  args: readonly string[],
  specs: readonly OptionSpec[],
): ParsedOptions | null {
  const known = knownOptions(specs);
  if (!known) return null;
  const options: ParsedOptions = {};
  for (let at = 0; at < args.length; at++) {
    const arg = args[at] as string;
    const equals = arg.indexOf("=");
    const name = equals === -1 ? arg : arg.slice(0, equals);
    const option = known.get(name);
    if (!option || Object.hasOwn(options, option.key)) return null;
    if (!option.takesValue) {
      if (equals !== -1) return null;
      options[option.key] = true;
      continue;
    }
    const value = equals === -1 ? args[++at] : arg.slice(equals + 1);
    if (!plainValue(value)) return null;
    options[option.key] = value;
  }
  return options;
}
