/**
 * Gets the manifest this cycle decides from: a freshly fetched and verified
 * one, or after a 304 the last verified one stored in state_dir (so a changed
 * config, a `clear` or `--force` take effect without a new serial).
 *
 * Writes only state_dir: the stored manifest pair first, then state.json with
 * the new serial and ETag. A crash between the two leaves the old ETag, so
 * the next poll fetches again; never the other way round.
 */
import { mkdir, readFile } from "node:fs/promises";
import type { Config } from "../config/types.js";
import { UpdaterError } from "../errors.js";
import {
  type Accepted,
  acceptManifest,
  checkExpiry,
  type Expectations,
  sha256Hex,
  verifyManifest,
} from "../feed/accept.js";
import { fetchFeed } from "../feed/fetch.js";
import type { Manifest } from "../feed/manifest.js";
import { writeFileAtomic } from "../fs/atomic.js";
import type { StatePaths } from "../layout/paths.js";
import type { Logger } from "../log.js";
import { type State, saveState } from "../state/store.js";
import { checkOwnCertificates } from "./certificates.js";
import { createFeedClient } from "./deps.js";

export interface ManifestSourceDeps {
  now: () => Date;
  monotonicMs: () => number;
  log: Logger;
}

export interface CurrentManifest {
  manifest: Manifest;
  sha256: string;
  /** True when the master answered 304 and the stored manifest was used. */
  notModified: boolean;
  bytesRead: number;
  /** The master's Date header, and this host's clock when the answer came (preflight's clock check). */
  serverDate: string | null;
  receivedAt: Date;
}

/** Overall limit of one feed request: connect + idle timeouts bound a stall, this bounds a dribble. */
export function requestDeadlineMs(config: Config): number {
  return config.feed.timeout_ms * 3;
}

/** What this host expects of any manifest from the feed of `config`, now (feed/accept.ts). */
export function expectations(config: Config, state: State): Expectations {
  return {
    trustedKeys: config.feed.trusted_keys,
    channel: config.feed.channel,
    component: config.feed.component,
    unnamedAllowed: !state.component_seen,
    feedUrl: config.feed.url,
  };
}

/**
 * The stored manifest, verified again as if it had just arrived (signature
 * with the keys configured now, component, channel, URLs), or null when
 * there is none that state.json accepted or it no longer verifies. A null
 * makes the next request a whole one (no If-None-Match), so a 304 can never
 * answer for a manifest this host would refuse today. Its expiry is checked
 * where it is used.
 */
export async function readStored(
  config: Config,
  paths: StatePaths,
  state: State,
): Promise<Accepted | null> {
  if (state.manifest_sha256 === null) return null;
  try {
    const [bytes, signature] = await Promise.all([
      readFile(paths.manifest),
      readFile(paths.manifestSignature, "utf8"),
    ]);
    // Only the stored manifest that state.json accepted may answer a 304.
    if (sha256Hex(bytes) !== state.manifest_sha256) return null;
    return verifyManifest(bytes, signature, expectations(config, state));
  } catch {
    return null;
  }
}

/** What one request to the feed brought, verified in memory (fetchManifest). */
export type FetchedManifest =
  | { kind: "not-modified"; serverDate: string | null }
  | {
      kind: "fetched";
      accepted: Accepted;
      /** The bytes as they came, for the caller that stores them. */
      bytes: Buffer;
      signature: string;
      etag: string | null;
      bytesRead: number;
      serverDate: string | null;
    };

interface FetchInput {
  /** null: ask for the whole manifest (the answer is never a 304). */
  etag: string | null;
  state: State;
  now: () => Date;
}

/**
 * One request to the feed and the manifest's verification (signature,
 * channel, expiry, serial), in memory: it writes nothing. The cycle stores
 * what it returns (currentManifest); `plan` only looks at it.
 */
export async function fetchManifest(
  config: Config,
  input: FetchInput & { etag: null },
): Promise<Extract<FetchedManifest, { kind: "fetched" }>>;
export async function fetchManifest(config: Config, input: FetchInput): Promise<FetchedManifest>;
export async function fetchManifest(config: Config, input: FetchInput): Promise<FetchedManifest> {
  // The host's own files first: a stat and a parse, and the master's refusal would hide the cause.
  await checkOwnCertificates(config, input.now());
  const client = await createFeedClient(config);
  try {
    const result = await fetchFeed({
      client,
      feedUrl: config.feed.url,
      maxManifestBytes: config.feed.max_manifest_bytes,
      deadlineMs: requestDeadlineMs(config),
      etag: input.etag,
    });
    if (result.kind === "not-modified") {
      if (input.etag === null)
        throw new UpdaterError(
          "E_HTTP_STATUS",
          "manifest: HTTP 304 to a request without If-None-Match",
        );
      return { kind: "not-modified", serverDate: result.serverDate };
    }
    const accepted = acceptManifest({
      ...expectations(config, input.state),
      now: input.now(),
      bytes: result.manifest,
      signature: result.signature,
      highestSerial: input.state.highest_serial,
      acceptedSha256: input.state.manifest_sha256,
    });
    return {
      kind: "fetched",
      accepted,
      bytes: result.manifest,
      signature: result.signature,
      etag: result.etag,
      bytesRead: result.bytesRead,
      serverDate: result.serverDate,
    };
  } finally {
    await client.close();
  }
}

/**
 * `fresh`: ask without If-None-Match, so the answer is a manifest whose
 * signature is checked now (an updater release on trial commits only on that).
 */
export async function currentManifest(
  config: Config,
  paths: StatePaths,
  state: State,
  deps: ManifestSourceDeps,
  options: { fresh?: boolean } = {},
): Promise<CurrentManifest> {
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  const started = deps.monotonicMs();
  const stored = options.fresh ? null : await readStored(config, paths, state);
  const result = await fetchManifest(config, {
    etag: stored ? state.etag : null,
    state,
    now: deps.now,
  });
  const ms = Math.round(deps.monotonicMs() - started);
  if (result.kind === "not-modified") {
    // an If-None-Match went out, so a verified stored manifest is there (fetchManifest refuses a 304 otherwise)
    const { manifest } = stored as Accepted;
    checkExpiry(manifest, deps.now());
    deps.log.info(
      { serial: manifest.serial, fetch_ms: ms },
      "Feed not modified; deciding from the stored manifest.",
    );
    return {
      manifest,
      sha256: state.manifest_sha256 as string,
      notModified: true,
      bytesRead: 0,
      serverDate: result.serverDate,
      receivedAt: deps.now(),
    };
  }
  const { accepted } = result;
  await writeFileAtomic(paths.manifestSignature, result.signature, 0o600);
  await writeFileAtomic(paths.manifest, result.bytes, 0o600);
  state.highest_serial = accepted.manifest.serial;
  state.manifest_sha256 = accepted.sha256;
  state.etag = result.etag;
  if (accepted.manifest.component !== undefined) state.component_seen = true;
  await saveState(paths.state, state);
  deps.log.info(
    {
      serial: accepted.manifest.serial,
      fetch_ms: ms,
      key_id: accepted.keyId,
      bytes: result.bytesRead,
    },
    "Fetched and verified the manifest.",
  );
  return {
    manifest: accepted.manifest,
    sha256: accepted.sha256,
    notModified: false,
    bytesRead: result.bytesRead,
    serverDate: result.serverDate,
    receivedAt: deps.now(),
  };
}
