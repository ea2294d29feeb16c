/**
 * `publish`: adds or replaces a release in a feed directory and re-signs the
 * manifest. The master's whole job, so it must never leave a feed that
 * hosts refuse: the new manifest is checked with the same parser the agent
 * uses before it is written, and the serial always goes up.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import semver from "semver";
import { UpdaterError } from "../errors.js";
import { fsyncDir, writeFileAtomic } from "../fs/atomic.js";
import { parseSecretKey, signData } from "../signing/secret-key.js";
import { type Manifest, parseManifest, type Release } from "./manifest.js";

export interface PublishOptions {
  feedDir: string;
  tarball: string;
  version: string;
  sha: string;
  keyFile: string;
  channel?: string | undefined;
  latest: boolean;
  rolloutPercent: number;
  expiresInS: number;
  now: Date;
  /** The updater version the release needs (SPEC section 12); hosts update themselves first. */
  minUpdater?: string | undefined;
}

export interface PublishResult {
  manifest: Manifest;
  release: Release;
}

async function readExisting(feedDir: string): Promise<Manifest | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(feedDir, "manifest.json"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return parseManifest(bytes);
}

/** Copies the tarball into the feed, hashing it on the way (one read of the file). */
async function copyHashed(
  source: string,
  target: string,
): Promise<{ sha256: string; size: number }> {
  const temp = `${target}.${process.pid}.tmp`;
  const hash = createHash("sha256");
  let size = 0;
  try {
    await pipeline(
      createReadStream(source),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(temp, { mode: 0o644, flush: true }),
    );
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code ?? "";
    throw new UpdaterError(
      "E_PUBLISH",
      `publish: cannot copy ${source} into the feed (${code || error})`,
      {
        cause: error,
      },
    );
  }
  return { sha256: hash.digest("hex"), size };
}

function checkArguments(options: PublishOptions): void {
  if (semver.valid(options.version) !== options.version) {
    throw new UpdaterError(
      "E_USAGE",
      `--version: expected a semver version like 1.2.3, found ${JSON.stringify(options.version)}`,
    );
  }
  if (!/^[0-9a-f]{7,64}$/.test(options.sha)) {
    throw new UpdaterError(
      "E_USAGE",
      `--sha: expected a lowercase hex git sha, found ${JSON.stringify(options.sha)}`,
    );
  }
  if (options.minUpdater !== undefined && semver.valid(options.minUpdater) !== options.minUpdater) {
    throw new UpdaterError(
      "E_USAGE",
      `--min-updater: expected a semver version like 0.2.0, found ${JSON.stringify(options.minUpdater)}`,
    );
  }
  if (
    !Number.isInteger(options.rolloutPercent) ||
    options.rolloutPercent < 0 ||
    options.rolloutPercent > 100
  ) {
    throw new UpdaterError(
      "E_USAGE",
      `--rollout: expected an integer from 0 to 100, found ${options.rolloutPercent}`,
    );
  }
}

export async function publishRelease(options: PublishOptions): Promise<PublishResult> {
  checkArguments(options);
  const secretKey = parseSecretKey(await readFile(options.keyFile, "utf8"), options.keyFile);
  await mkdir(options.feedDir, { recursive: true });
  const existing = await readExisting(options.feedDir);
  if (existing && options.channel !== undefined && options.channel !== existing.channel) {
    throw new UpdaterError(
      "E_PUBLISH",
      `publish: feed ${options.feedDir} is channel ${JSON.stringify(existing.channel)}, --channel says ${JSON.stringify(options.channel)}`,
    );
  }
  const url = basename(options.tarball);
  const clash = existing?.releases.find((r) => r.url === url && r.version !== options.version);
  if (clash) {
    throw new UpdaterError(
      "E_PUBLISH",
      `publish: ${url} is already the tarball of release ${clash.version}; rename the file`,
    );
  }

  const { sha256, size } = await copyHashed(options.tarball, join(options.feedDir, url));
  const release: Release = {
    version: options.version,
    sha: options.sha,
    url,
    sha256,
    size,
    published_at: options.now.toISOString(),
    rollout: { percent: options.rolloutPercent },
    ...(options.minUpdater !== undefined ? { min_updater: options.minUpdater } : {}),
  };
  const others = (existing?.releases ?? []).filter(
    (r) => r.version !== release.version && r.sha !== release.sha,
  );
  const releases = [...others, release].sort((a, b) => semver.compare(a.version, b.version));
  const keptLatest =
    existing?.latest && releases.some((r) => r.version === existing.latest)
      ? existing.latest
      : undefined;
  const manifest: Manifest = {
    schema: 1,
    channel: options.channel ?? existing?.channel ?? "stable",
    serial: (existing?.serial ?? 0) + 1,
    issued_at: options.now.toISOString(),
    expires: new Date(options.now.getTime() + options.expiresInS * 1000).toISOString(),
    latest: options.latest || keptLatest === undefined ? release.version : keptLatest,
    releases,
  };
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  parseManifest(bytes); // the agent's own rules: never publish what hosts would refuse

  const comment = `timestamp:${Math.floor(options.now.getTime() / 1000)}\tfile:manifest.json\tserial:${manifest.serial}\thashed`;
  const signature = signData(secretKey, bytes, comment);
  // Signature first: a host that fetches between the two renames sees a
  // pair that does not verify and simply retries on its next cycle.
  await writeFileAtomic(join(options.feedDir, "manifest.json.minisig"), signature);
  await writeFileAtomic(join(options.feedDir, "manifest.json"), bytes);
  await fsyncDir(options.feedDir);
  return { manifest, release };
}
