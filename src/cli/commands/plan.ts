import type { Command } from "commander";
import type { Plan, UnitPlan } from "../../agent/plan.js";
import { CONFIG_OPTION, failCommand, JSON_OPTION, printJson, printLine } from "../output.js";
import { compileWasmWithLiftoffOnly, keepYoungGenerationSmall } from "../v8-flags.js";

const refText = (r: { sha: string; version: string | null } | null) =>
  r ? `${r.version ?? "?"} (${r.sha.slice(0, 12)})` : "none";

function unitLines(units: UnitPlan[]): string[] {
  const lines: string[] = [];
  for (const unit of units) {
    lines.push(`  ${unit.action} ${unit.name}`);
    for (const line of (unit.diff ?? "").split("\n").filter(Boolean)) lines.push(`    ${line}`);
  }
  return lines;
}

function human(plan: Plan): string[] {
  const lines = [
    `next cycle: ${plan.status.replace(/_/g, " ")}: ${plan.reason}`,
    `manifest: serial ${plan.manifest.serial} from the ${plan.manifest.source}${plan.manifest.error ? ` (the feed: ${plan.manifest.error})` : ""}`,
    `active: ${refText(plan.active)}; target: ${refText(plan.target)}${plan.target?.critical ? " (critical)" : ""}`,
  ];
  if (plan.state_problem) lines.push(`state: ${plan.state_problem}`);
  if (plan.rollout)
    lines.push(
      `rollout: ${plan.rollout.percent}%, this host's bucket ${plan.rollout.bucket}${plan.rollout.applies ? "" : " (does not apply: pinned or nothing installed)"}`,
    );
  for (const gate of Object.values(plan.gates ?? {}))
    lines.push(`${gate.name.replace("_", " ")}: ${gate.open ? "open" : "closed"}: ${gate.reason}`);
  if (plan.backoff)
    lines.push(
      `backoff: ${plan.backoff.failures} failure(s), ${plan.backoff.skip_cycles} cycle(s) to skip (last: ${plan.backoff.error})`,
    );
  const failed = Object.entries(plan.failed_releases).map(
    ([sha, f]) => `${f.version} (${sha.slice(0, 12)})`,
  );
  lines.push(`failed releases: ${failed.length ? failed.join(", ") : "none"}`);
  const pre = plan.preflight;
  if (pre) {
    for (const [name, need] of [
      ["download", pre.download],
      ["install", pre.install],
    ] as const)
      lines.push(
        `disk (${name}): ${need.path}: ${(need.free_bytes / 2 ** 20).toFixed(1)} MiB free, ${(need.needed_bytes / 2 ** 20).toFixed(1)} MiB needed`,
      );
    for (const cert of pre.certificates)
      lines.push(`${cert.what}: ${cert.problem ?? cert.warning ?? `valid until ${cert.expires}`}`);
    lines.push(
      `clock: ${pre.clock.skew_s === null ? "no Date header from the master" : `${pre.clock.skew_s} s off the master's`}`,
    );
  }
  lines.push(
    plan.units.known
      ? `units that would change: ${plan.units.changes.length ? "" : "none"}`
      : `units: ${plan.units.note}`,
    ...unitLines(plan.units.changes),
    `a rollback would restore: ${refText(plan.rollback.restores)}${plan.rollback.venv ? ` with ${plan.rollback.venv}` : ""}${plan.rollback.units.length ? "; units:" : ""}`,
    ...unitLines(plan.rollback.units),
  );
  return lines;
}

export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description(
      "what the next cycle would decide and why, changing nothing (fetches the manifest, and the release into a temp folder for unit diffs)",
    )
    .option(...CONFIG_OPTION)
    .option(...JSON_OPTION)
    .addHelpText(
      "after",
      "\nExit codes: 0 the plan was made; 1 it could not be (no manifest to decide from); 64 usage.",
    )
    .action(async (options: { config?: string; json?: boolean }) => {
      const { commandContext } = await import("../../host/command-context.js");
      const { runPlan } = await import("../../agent/plan.js");
      try {
        const context = await commandContext(options.config);
        compileWasmWithLiftoffOnly(); // one run, then exit, as update and check
        keepYoungGenerationSmall(); // it downloads the release for its unit diffs
        const plan = await runPlan(context.config, context);
        if (options.json) printJson(plan);
        else for (const line of human(plan)) printLine(line);
      } catch (error) {
        failCommand(error, options.json, "failed", {});
      }
    });
}
