/**
 * `publish`: adds or replaces a release in a feed directory and re-signs the
 * manifest. The master's whole job, so it must never leave a feed that hosts
 * refuse, and never sign what it did not verify:
 *
 * - the feed's current manifest.json must verify with the public half of the
 *   signing key (or a `--trusted-key`) before anything is merged; whoever can
 *   write the served folder without the key could otherwise add a release and
 *   have the operator's next routine publish sign it (docs/security.md, b);
 * - a file the current signed manifest names is never overwritten (hosts
 *   verified those bytes), nor the manifest or its signature;
 * - what it signed last for each feed is recorded beside the key, outside
 *   any served folder (`published.json`): a feed whose manifest is not that
 *   one (an older signed one put back: every pair the folder ever served
 *   verifies; another feed's, signed with the same key; or none) is refused
 *   instead of built on, unless `--signed-elsewhere` says the operator
 *   signed it by other means;
 * - the new manifest passes the agent's own parser before it is written, and
 *   the serial always goes up (it is bounded so that it always can).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, realpath, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { oneLine, UpdaterError } from "../errors.js";
import { fsyncDir, writeFileAtomic } from "../fs/atomic.js";
import { createExclusive, tempNameBeside } from "../fs/exclusive.js";
import { exists } from "../fs/exists.js";
import { type PublicKey, verifySignature } from "../signing/minisign.js";
import { parseSecretKey, publicKeyOf, signData } from "../signing/secret-key.js";
import { sha256Hex } from "./accept.js";
import {
  type Component,
  isSafeRelativeUrl,
  MAX_SERIAL,
  type Manifest,
  parseManifest,
  type Release,
} from "./manifest.js";
import { semver } from "./semver.js";

export interface PublishOptions {
  feedDir: string;
  tarball: string;
  version: string;
  sha: string;
  keyFile: string;
  /** More public keys the feed's current manifest may be signed with (a key rotation). */
  trustedKeys?: readonly PublicKey[];
  /** What the feed is for; default the feed's own, else "decnet". */
  component?: Component | undefined;
  /** The feed's manifest was signed outside this machine's publish (stock minisign, another master): build on it. */
  signedElsewhere?: boolean;
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

const MANIFEST = "manifest.json";
const SIGNATURE = "manifest.json.minisig";

function refuse(message: string): UpdaterError {
  return new UpdaterError("E_PUBLISH", `publish: ${message}`);
}

/** What `publish` signed last for each feed folder (by its real path). */
interface PublishRecord {
  schema: 1;
  feeds: Record<string, { serial: number; sha256: string }>;
}

/** Beside the signing key: whoever can write a served folder cannot touch it. */
export function publishRecordPath(keyFile: string): string {
  return join(dirname(keyFile), "published.json");
}

async function readRecord(path: string): Promise<PublishRecord> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { schema: 1, feeds: {} };
    throw refuse(`cannot read the record of what was signed, ${path} (${oneLine(error)})`);
  }
  try {
    const doc = JSON.parse(text) as PublishRecord;
    if (doc.schema !== 1 || typeof doc.feeds !== "object" || doc.feeds === null) throw new Error();
    return doc;
  } catch {
    throw refuse(
      `${path} is not a record of what was signed; restore it, or remove it to trust the feeds as they are`,
    );
  }
}

/**
 * The feed's manifest must be the very one this key signed last for it. A
 * newer serial is no proof: the same key signs the updater's feed, a beta
 * feed, or any other, and whoever writes the served folder can copy one in.
 */
function checkAgainstRecord(
  feedDir: string,
  current: { manifest: Manifest; sha256: string } | null,
  last: { serial: number; sha256: string } | undefined,
  recordPath: string,
): void {
  if (last === undefined) return; // first publish of this feed from here: trusted as verified
  if (current === null)
    throw refuse(
      `${join(feedDir, MANIFEST)} is missing, but this key last signed serial ${last.serial} for this feed (${recordPath}); restore the feed, or remove its entry from the record to start it over`,
    );
  if (current.sha256 !== last.sha256)
    throw refuse(
      `the feed's ${MANIFEST} (serial ${current.manifest.serial}, sha256 ${current.sha256.slice(0, 12)}...) is not the one this key last signed for it (serial ${last.serial}, sha256 ${last.sha256.slice(0, 12)}...): someone put another signed manifest there; if you signed it by other means, pass --signed-elsewhere`,
    );
}

/**
 * The feed's current manifest, verified; null for an empty feed (no
 * manifest.json and no signature), the only case without a signature.
 */
export async function readVerifiedFeed(
  feedDir: string,
  keys: readonly PublicKey[],
): Promise<{ manifest: Manifest; sha256: string } | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(feedDir, MANIFEST));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT")
      throw refuse(`cannot read ${join(feedDir, MANIFEST)} (${oneLine(error)})`);
    if (await exists(join(feedDir, SIGNATURE)))
      throw refuse(`the feed has ${SIGNATURE} but no ${MANIFEST}: someone removed it; restore it`);
    return null;
  }
  let signature: string;
  try {
    signature = await readFile(join(feedDir, SIGNATURE), "utf8");
    verifySignature(bytes, signature, keys);
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === "ENOENT"
        ? `${SIGNATURE} is missing`
        : oneLine(error);
    throw refuse(
      `the feed's ${MANIFEST} does not verify with this key: someone changed it, or it was signed with another key (${why}); after a key rotation pass the old public key with --trusted-key`,
    );
  }
  try {
    return {
      manifest: parseManifest(bytes),
      sha256: sha256Hex(bytes),
    };
  } catch (error) {
    throw refuse(`the feed's signed ${MANIFEST} breaks the manifest rules (${oneLine(error)})`);
  }
}

/**
 * Copies the tarball to a temp file in the feed, hashing it on the way (one
 * read). The temp file has a random name and is created with O_EXCL and
 * O_NOFOLLOW, so nothing planted in the feed folder is written through.
 */
async function copyHashed(
  source: string,
  feedDir: string,
): Promise<{ temp: string; sha256: string; size: number }> {
  const temp = tempNameBeside(join(feedDir, "publish"));
  let sha256 = "";
  let size = 0;
  try {
    const handle = await createExclusive(temp, 0o644);
    const hash = createHash("sha256");
    await pipeline(
      createReadStream(source),
      async function* (input: AsyncIterable<Buffer>) {
        for await (const chunk of input) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      handle.createWriteStream({ flush: true }),
    );
    sha256 = hash.digest("hex");
  } catch (error) {
    await rm(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code ?? "";
    throw new UpdaterError(
      "E_PUBLISH",
      `publish: cannot copy ${source} into the feed (${code || oneLine(error)})`,
      { cause: error },
    );
  }
  return { temp, sha256, size };
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
  const url = basename(options.tarball);
  // The feed's own files and hidden (temp) names are never a release's.
  if (url === MANIFEST || url === SIGNATURE || url.startsWith(".") || !isSafeRelativeUrl(url)) {
    throw new UpdaterError(
      "E_USAGE",
      `--tarball: expected a file name a feed can serve (not ${MANIFEST}, ${SIGNATURE} or a hidden name; no white space, '%', '?' or '#'), found ${JSON.stringify(url)}`,
    );
  }
}

/**
 * What the feed is for: the flag, or what the feed already says; a change is
 * refused. A feed published before manifests named their component must be
 * named once by hand: guessing "decnet" for the updater's own feed would
 * make every host's self-update refuse it.
 */
function componentOf(options: PublishOptions, existing: Manifest | null): Component {
  if (existing && existing.component === undefined && options.component === undefined)
    throw refuse(
      `the manifest of feed ${options.feedDir} names no component (an older publish wrote it); say once what the feed is for with --component decnet or --component decnet-updater`,
    );
  const component = options.component ?? existing?.component ?? "decnet";
  if (existing?.component !== undefined && existing.component !== component) {
    throw refuse(
      `feed ${options.feedDir} is for ${JSON.stringify(existing.component)}, --component says ${JSON.stringify(component)}`,
    );
  }
  return component;
}

/** The feed as publish may build on it: the key, the verified manifest, the record's entry. */
interface OpenFeed {
  secretKey: ReturnType<typeof parseSecretKey>;
  existing: Manifest | null;
  record: PublishRecord;
  recordPath: string;
  feedKey: string;
}

/**
 * Every change to a feed starts here: the key is read, the current manifest
 * verified with it (or a trusted key) and checked against the record of what
 * this key signed last for the feed.
 */
async function openFeed(
  options: {
    feedDir: string;
    keyFile: string;
    trustedKeys?: readonly PublicKey[] | undefined;
    signedElsewhere?: boolean | undefined;
  },
  /** A publish makes the folder; a rollout only changes a feed that is there, and creates nothing. */
  create: boolean,
): Promise<OpenFeed> {
  const secretKey = parseSecretKey(await readFile(options.keyFile, "utf8"), options.keyFile);
  if (create) await mkdir(options.feedDir, { recursive: true });
  else if (!(await exists(join(options.feedDir, MANIFEST))))
    throw refuse(`feed ${options.feedDir} has no ${MANIFEST}: nothing was published there`);
  const current = await readVerifiedFeed(options.feedDir, [
    publicKeyOf(secretKey),
    ...(options.trustedKeys ?? []),
  ]);
  const recordPath = publishRecordPath(options.keyFile);
  const record = await readRecord(recordPath);
  const feedKey = await realpath(options.feedDir);
  if (!options.signedElsewhere)
    checkAgainstRecord(options.feedDir, current, record.feeds[feedKey], recordPath);
  return { secretKey, existing: current?.manifest ?? null, record, recordPath, feedKey };
}

function nextSerial(existing: Manifest | null): number {
  const serial = (existing?.serial ?? 0) + 1;
  if (serial > MAX_SERIAL)
    throw refuse(`the feed's serial ${existing?.serial} cannot be incremented past ${MAX_SERIAL}`);
  return serial;
}

/** The manifest's bytes, checked by the agent's own parser: never publish what hosts would refuse. */
function manifestBytes(manifest: Manifest): Buffer {
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  parseManifest(bytes);
  return bytes;
}

/** Signs and writes the manifest, then records what was signed beside the key. */
async function signAndWrite(
  feedDir: string,
  feed: OpenFeed,
  manifest: Manifest,
  bytes: Buffer,
  now: Date,
): Promise<void> {
  const comment = `timestamp:${Math.floor(now.getTime() / 1000)}\tfile:${MANIFEST}\tserial:${manifest.serial}\thashed`;
  const signature = signData(feed.secretKey, bytes, comment);
  // Signature first: a host that fetches between the two renames sees a
  // pair that does not verify and simply retries on its next cycle.
  await writeFileAtomic(join(feedDir, SIGNATURE), signature);
  await writeFileAtomic(join(feedDir, MANIFEST), bytes);
  await fsyncDir(feedDir);
  const { record, recordPath, feedKey } = feed;
  const recordedBefore = record.feeds[feedKey] !== undefined;
  record.feeds[feedKey] = { serial: manifest.serial, sha256: sha256Hex(bytes) };
  await writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`, 0o600).catch(
    (error) => {
      throw refuse(
        `published serial ${manifest.serial}, but could not record it in ${recordPath} (${oneLine(error)}); ${recordedBefore ? "the record still names what was signed before, so the next publish refuses the feed as not the one this key last signed: check it, then pass --signed-elsewhere" : "the next publish will trust the feed as it is"}`,
      );
    },
  );
}

export async function publishRelease(options: PublishOptions): Promise<PublishResult> {
  checkArguments(options);
  const feed = await openFeed(options, true);
  const { existing } = feed;
  if (existing && options.channel !== undefined && options.channel !== existing.channel) {
    throw refuse(
      `feed ${options.feedDir} is channel ${JSON.stringify(existing.channel)}, --channel says ${JSON.stringify(options.channel)}`,
    );
  }
  const component = componentOf(options, existing);
  const serial = nextSerial(existing);
  const url = basename(options.tarball);
  const clash = existing?.releases.find((r) => r.url === url && r.version !== options.version);
  if (clash)
    throw refuse(`${url} is already the tarball of release ${clash.version}; rename the file`);
  const named = existing?.releases.find((r) => r.url === url);

  const copied = await copyHashed(options.tarball, options.feedDir);
  try {
    if (named && named.sha256 !== copied.sha256) {
      throw refuse(
        `${url} is the tarball of release ${named.version} in the signed manifest (sha256 ${named.sha256.slice(0, 12)}...); hosts verified those bytes, so a new build needs another file name (found sha256 ${copied.sha256.slice(0, 12)}...)`,
      );
    }
    const release: Release = {
      version: options.version,
      sha: options.sha,
      url,
      sha256: copied.sha256,
      size: copied.size,
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
      component,
      channel: options.channel ?? existing?.channel ?? "stable",
      serial,
      issued_at: options.now.toISOString(),
      expires: new Date(options.now.getTime() + options.expiresInS * 1000).toISOString(),
      latest: options.latest || keptLatest === undefined ? release.version : keptLatest,
      releases,
    };
    const bytes = manifestBytes(manifest);

    // The tarball is in place under a name no signed manifest named with
    // other bytes before the manifest that names it exists: no window in
    // which hosts could fetch bytes that differ from the signed sha256.
    if (named) await rm(copied.temp, { force: true });
    else await rename(copied.temp, join(options.feedDir, url));
    await signAndWrite(options.feedDir, feed, manifest, bytes, options.now);
    return { manifest, release };
  } finally {
    await rm(copied.temp, { force: true });
  }
}

export interface RolloutPercentOptions {
  feedDir: string;
  keyFile: string;
  version: string;
  expiresInS: number;
  now: Date;
  trustedKeys?: readonly PublicKey[];
  signedElsewhere?: boolean;
  /**
   * The new percent, decided on the very manifest that will be re-signed
   * (verified and checked against the record): null leaves the feed as it
   * is. It may throw to refuse.
   */
  decide: (manifest: Manifest, release: Release) => Promise<number | null>;
}

export type RolloutPercentResult = PublishResult & { changed: boolean };

/**
 * Sets one release's rollout percent and re-signs the manifest (`rollout`,
 * issue 18): the same verify-first, record-checked, serial-bumping path as
 * a publish, with the tarballs left as they are. The feed is read once: what
 * `decide` judges is what gets signed, so an older signed manifest put back
 * in the folder is refused, not judged.
 */
export async function setRolloutPercent(
  options: RolloutPercentOptions,
): Promise<RolloutPercentResult> {
  const feed = await openFeed(options, false);
  const { existing } = feed;
  const release = existing?.releases.find((r) => r.version === options.version);
  if (!existing || !release)
    throw refuse(
      `feed ${options.feedDir} has no release ${options.version} (it has ${existing?.releases.map((r) => r.version).join(", ") || "none"})`,
    );
  const percent = await options.decide(existing, release);
  if (percent === null || percent === release.rollout.percent)
    return { manifest: existing, release, changed: false };
  if (!Number.isInteger(percent) || percent < 0 || percent > 100)
    throw new UpdaterError("E_USAGE", `--to: expected an integer from 0 to 100, found ${percent}`);
  const changed: Release = { ...release, rollout: { ...release.rollout, percent } };
  const manifest: Manifest = {
    ...existing,
    serial: nextSerial(existing),
    issued_at: options.now.toISOString(),
    expires: new Date(options.now.getTime() + options.expiresInS * 1000).toISOString(),
    releases: existing.releases.map((r) => (r === release ? changed : r)),
  };
  await signAndWrite(options.feedDir, feed, manifest, manifestBytes(manifest), options.now);
  return { manifest, release: changed, changed: true };
}
