/**
 * The commands main.ts can run without commander, and their options.
 * main.ts reads the line against these before it loads any command's code,
 * so a line it hands to commander loads that code once; each command's
 * CommandSpec takes the same list, and scripts/bundle.ts bundles one
 * fast/NAME.cjs per name here.
 */
import type { OptionSpec } from "./command-spec.js";
import { CONFIG_OPTION, JSON_OPTION } from "./output.js";

export const FAST_COMMAND_OPTIONS = {
  update: [
    CONFIG_OPTION,
    JSON_OPTION,
    ["--force", "reinstall even when the sha matches; ignore failed-release marks"],
  ],
  check: [CONFIG_OPTION, JSON_OPTION],
  status: [CONFIG_OPTION, JSON_OPTION],
} as const satisfies Record<string, readonly OptionSpec[]>;

export type FastCommand = keyof typeof FAST_COMMAND_OPTIONS;
