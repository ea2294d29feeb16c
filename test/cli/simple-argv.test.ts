/**
 * main.ts runs `update`, `check` and `status` without commander when their
 * arguments are plain (src/cli/simple-argv.ts). What that parser takes,
 * commander must read the same way from the same CommandSpec; what it does
 * not take, it hands on (null) rather than refusing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import {
  type CommandSpec,
  type ParsedOptions,
  registerCommand,
} from "../../src/cli/command-spec.js";
import { checkCommand } from "../../src/cli/commands/check.js";
import { statusCommand } from "../../src/cli/commands/status.js";
import { updateCommand } from "../../src/cli/commands/update.js";
import { FAST_COMMAND_OPTIONS, type FastCommand } from "../../src/cli/fast-options.js";
import { simpleOptions } from "../../src/cli/simple-argv.js";
import { runCli } from "../helpers/cli.js";

/** What commander hands the action for `decnet-updater NAME ...args`, or its error code. */
function commanderOptions(spec: CommandSpec, args: string[]): ParsedOptions | string {
  let seen: ParsedOptions | undefined;
  const program = new Command("decnet-updater").exitOverride().configureOutput({
    writeErr: () => {},
    writeOut: () => {},
  });
  registerCommand(program, {
    ...spec,
    action: async (options) => {
      seen = { ...options };
    },
  });
  for (const command of program.commands) command.exitOverride();
  try {
    program.parse(["node", "decnet-updater", spec.name, ...args]);
  } catch (error) {
    return (error as { code: string }).code;
  }
  return seen ?? "no action";
}

const DASHED: CommandSpec = {
  name: "dashed",
  description: "a spec with a dashed option name",
  options: [
    ["--dry-run", "a flag"],
    ["--out-dir <dir>", "a value"],
  ],
  action: async () => {},
};

const PLAIN: Array<[CommandSpec, string[]]> = [
  [updateCommand, []],
  [updateCommand, ["--json"]],
  [updateCommand, ["--config", "/etc/decnet/updater.toml"]],
  [updateCommand, ["--config=/etc/decnet/updater.toml"]],
  [updateCommand, ["--force", "--config", "/tmp/a b.toml", "--json"]],
  [updateCommand, ["--config=x=y.toml"]],
  [checkCommand, ["--json", "--config", "relative.toml"]],
  [statusCommand, ["--config", "c.toml"]],
  [DASHED, ["--dry-run", "--out-dir", "out"]],
  [DASHED, ["--out-dir=out"]],
];

test("every plain line reads the same as commander reads it", () => {
  for (const [spec, args] of PLAIN) {
    const ours = simpleOptions(args, spec.options);
    assert.notEqual(ours, null, `${spec.name} ${args.join(" ")}: taken`);
    assert.deepEqual(ours, commanderOptions(spec, args), `${spec.name} ${args.join(" ")}`);
  }
});

const NOT_PLAIN: string[][] = [
  ["--help"],
  ["-h"],
  ["-V"],
  ["--config"],
  ["--config="],
  ["--config", "--json"],
  ["--config", "-"],
  ["--config", "-x.toml"],
  ["--json", "--json"],
  ["--config", "a", "--config", "b"],
  ["--json=yes"],
  ["--"],
  ["--", "--json"],
  ["stray"],
  ["--unknown"],
  ["--conf", "x"],
  ["--constructor"],
  ["--toString"],
];

test("any other line is left to commander, not refused", () => {
  for (const args of NOT_PLAIN)
    assert.equal(simpleOptions(args, updateCommand.options), null, args.join(" "));
});

test("a spec with an option form the parser does not know leaves every line to commander", () => {
  for (const option of [
    ["-q, --quiet", "a short form"],
    ["--quiet [level]", "an optional value"],
    ["--no-color", "a negation: commander reads it as color: false"],
    ["--ipv-6", "a digit word: commander's key is ipv6"],
  ] as const)
    assert.equal(simpleOptions([], [option]), null, option[0]);
});

test("main.ts reads each fast command's line against the options of that command's spec", () => {
  const specs = { update: updateCommand, check: checkCommand, status: statusCommand };
  assert.deepEqual(Object.keys(specs).sort(), Object.keys(FAST_COMMAND_OPTIONS).sort());
  for (const [name, spec] of Object.entries(specs)) {
    assert.equal(spec.name, name);
    assert.equal(spec.options, FAST_COMMAND_OPTIONS[name as FastCommand]);
  }
});

test("a line commander parses goes the same way whichever parser reads it", async () => {
  const config = ["--config", "/nonexistent/du-simple-argv.toml"];
  const plain = await runCli(["status", "--json", ...config]);
  const commander = await runCli(["status", "--json", "--json", ...config]); // a repeat: commander's
  assert.deepEqual(commander, plain);
  assert.equal(plain.code, 1);
  assert.match(plain.stdout, /"code":"E_CONFIG"/);
  const usage = await runCli(["update", "--config"]);
  assert.equal(usage.code, 64);
  assert.match(usage.stderr, /option '--config <file>' argument missing/);
});
