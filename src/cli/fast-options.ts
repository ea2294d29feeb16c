/**
 * The options of the commands main.ts can run without commander (`update`,
 * `check`, `status`). main.ts reads the line against them before it loads
 * any command's code, so a line it hands to commander loads that code once;
 * each command's CommandSpec takes the same list.
 */
import type { OptionSpec } from "./command-spec.js";
import { CONFIG_OPTION, JSON_OPTION } from "./output.js";

export const UPDATE_OPTIONS: readonly OptionSpec[] = [
  CONFIG_OPTION,
  JSON_OPTION,
  ["--force", "reinstall even when the sha matches; ignore failed-release marks"],
];

export const CHECK_OPTIONS: readonly OptionSpec[] = [CONFIG_OPTION, JSON_OPTION];

export const STATUS_OPTIONS: readonly OptionSpec[] = [CONFIG_OPTION, JSON_OPTION];
