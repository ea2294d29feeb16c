import { type Command, InvalidArgumentError } from "commander";
import { UpdaterError } from "../../errors.js";
import {
  collectOption,
  durationOption,
  durationOrZeroOption,
  percentOption,
} from "../option-parsers.js";
import { failCommand, printJson, printLine } from "../output.js";
import { loadMaster, RECEIVER_CONFIG_OPTION, receiverConfigPath } from "./master-only.js";

interface RolloutFlags {
  config?: string;
  feed: string;
  key: string;
  version?: string;
  to?: number | "next";
  halt?: string;
  steps?: number[];
  maxFailure: number;
  minHosts: number;
  minWait: number;
  expiresIn: number;
  trustedKey: string[];
  signedElsewhere?: boolean;
  json?: boolean;
}

function target(value: string): number | "next" {
  if (value === "next") return "next";
  try {
    return percentOption(value);
  } catch {
    throw new InvalidArgumentError('expected an integer from 0 to 100, or "next"');
  }
}

function share(value: string): number {
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(value);
  const n = Number(match?.[1]);
  if (!match || n > 100) throw new InvalidArgumentError('expected a percent like "2%" (0 to 100)');
  return n / 100;
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected an integer >= 0");
  return Number(value);
}

function steps(value: string): number[] {
  const list = value.split(",").map((s) => Number(s.trim()));
  if (
    list.some((n) => !Number.isInteger(n) || n < 1 || n > 100) ||
    list.some((n, i) => i > 0 && n <= (list[i - 1] as number))
  )
    throw new InvalidArgumentError('expected rising percents like "10,25,50,100"');
  return list;
}

export function registerRollout(program: Command): void {
  program
    .command("rollout")
    .description(
      "on the master: move a release's rollout percent, up only while the hosts that tried it stay healthy",
    )
    .option(...RECEIVER_CONFIG_OPTION)
    .requiredOption("--feed <dir>", "feed folder")
    .requiredOption("--key <file>", "minisign secret key (unencrypted)")
    .option("--version <semver>", "the release")
    .option(
      "--to <percent>",
      'the new percent, or "next": the next of --steps above the current one',
      target,
    )
    .option("--halt <semver>", "set that release's percent to 0 (never gated)")
    .option(
      "--steps <list>",
      "the rising percents --to next walks (default: rollout's DEFAULT_STEPS, 10,25,50,100)",
      steps,
    )
    .option("--max-failure <percent>", "highest failure rate that lets it go up", share, 0.02)
    .option("--min-hosts <n>", "attempts needed before it goes up", count, 20)
    .option(
      "--min-wait <duration>",
      "--to next: the manifest must be this old first",
      durationOrZeroOption,
      3600,
    )
    .option("--expires-in <duration>", "manifest lifetime", durationOption, 14 * 86400)
    .option(
      "--trusted-key <key>",
      "another public key the feed may be signed with (key rotation); repeatable",
      collectOption,
      [],
    )
    .option("--signed-elsewhere", "build on a manifest signed by other means (see publish)")
    .option("--json", "one JSON object on stdout")
    .action(async (flags: RolloutFlags) => {
      let db: { close(): Promise<void> } | undefined;
      try {
        const version = flags.halt ?? flags.version;
        if (version === undefined || (flags.halt === undefined) === (flags.to === undefined))
          throw new UpdaterError("E_USAGE", "give --version V --to PERCENT, or --halt V");
        const [
          { loadReceiverConfig },
          { openStore },
          { rollout, DEFAULT_STEPS },
          { readPublicKey },
        ] = await loadMaster(() =>
          Promise.all([
            import("../../master/config.js"),
            import("../../master/store/open.js"),
            import("../../master/rollout.js"),
            import("../../signing/minisign.js"),
          ]),
        );
        const config = await loadReceiverConfig(receiverConfigPath(flags.config));
        const store = await openStore(config.store, "read");
        db = store;
        const outcome = await rollout(store, {
          feedDir: flags.feed,
          keyFile: flags.key,
          version,
          to: flags.halt !== undefined ? "halt" : (flags.to as number | "next"),
          steps: flags.steps ?? DEFAULT_STEPS,
          maxFailure: flags.maxFailure,
          minHosts: flags.minHosts,
          minWaitS: flags.minWait,
          expiresInS: flags.expiresIn,
          trustedKeys: await Promise.all(flags.trustedKey.map((key) => readPublicKey(key))),
          signedElsewhere: flags.signedElsewhere === true,
          now: new Date(),
        });
        if (flags.json)
          printJson({ status: outcome.changed ? "changed" : "unchanged", ...outcome });
        else
          printLine(
            outcome.changed
              ? `rollout ${outcome.version}: ${outcome.from_percent}% -> ${outcome.to_percent}% as serial ${outcome.serial} (${outcome.figures.attempts} attempts, failure rate ${outcome.figures.failure_rate === null ? "-" : `${(outcome.figures.failure_rate * 100).toFixed(1)}%`})`
              : `rollout ${outcome.version}: stays at ${outcome.from_percent}% (${outcome.note})`,
          );
      } catch (error) {
        failCommand(error, flags.json, "refused");
      } finally {
        await db?.close();
      }
    });
}
