import { type Command, InvalidArgumentError } from "commander";
import { exitCodeForError } from "../exit-codes.js";
import { collectOption, durationOption, percentOption } from "../option-parsers.js";
import { printError, printLine } from "../output.js";

interface PublishFlags {
  feed: string;
  tarball: string;
  version: string;
  sha: string;
  key: string;
  channel?: string;
  latest?: boolean;
  rollout: number;
  expiresIn: number;
  minUpdater?: string;
  trustedKey: string[];
  signedElsewhere?: boolean;
  component?: "decnet" | "decnet-updater";
}

function component(value: string): "decnet" | "decnet-updater" {
  if (value !== "decnet" && value !== "decnet-updater")
    throw new InvalidArgumentError('expected "decnet" or "decnet-updater"');
  return value;
}

export function registerPublish(program: Command): void {
  program
    .command("publish")
    .description("add or replace a release in a feed folder and sign its manifest")
    .requiredOption("--feed <dir>", "feed folder (manifest.json, signature, tarballs)")
    .requiredOption("--tarball <file>", "the release tarball (.tar.gz)")
    .requiredOption("--version <semver>", "the release's version")
    .requiredOption("--sha <gitsha>", "the release's git sha")
    .requiredOption("--key <file>", "minisign secret key (unencrypted)")
    .option("--channel <name>", "the feed's channel (default: the feed's, or stable)")
    .option("--latest", "make this version the manifest's latest")
    .option("--rollout <percent>", "share of unpinned hosts that take it", percentOption, 100)
    .option("--expires-in <duration>", "manifest lifetime", durationOption, 14 * 86400)
    .option(
      "--min-updater <semver>",
      "hosts must run at least this decnet-updater first (they update themselves, then this)",
    )
    .option(
      "--component <name>",
      'what the feed is for: "decnet" (the app) or "decnet-updater" (the updater itself); default the feed\'s own, else decnet',
      component,
    )
    .option(
      "--trusted-key <key>",
      "another minisign public key (base64 line or .pub file) the feed's current manifest may be signed with, after a key rotation; repeatable",
      collectOption,
      [],
    )
    .option(
      "--signed-elsewhere",
      "the feed's current manifest was signed by other means (stock minisign, another master): build on it although it is not the one this key's record names",
    )
    .action(async (flags: PublishFlags) => {
      const { publishRelease } = await import("../../feed/publish.js");
      const { readPublicKey } = await import("../../signing/minisign.js");
      try {
        const { manifest, release } = await publishRelease({
          feedDir: flags.feed,
          tarball: flags.tarball,
          version: flags.version,
          sha: flags.sha,
          keyFile: flags.key,
          channel: flags.channel,
          latest: flags.latest === true,
          rolloutPercent: flags.rollout,
          expiresInS: flags.expiresIn,
          minUpdater: flags.minUpdater,
          component: flags.component,
          signedElsewhere: flags.signedElsewhere === true,
          trustedKeys: await Promise.all(flags.trustedKey.map((key) => readPublicKey(key))),
          now: new Date(),
        });
        printLine(
          `published ${release.version} (${release.sha.slice(0, 12)}, ${release.size} bytes) as serial ${manifest.serial}; latest ${manifest.latest}; expires ${manifest.expires}`,
        );
      } catch (error) {
        printError(error);
        process.exitCode = exitCodeForError(error);
      }
    });
}
