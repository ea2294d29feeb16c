/**
 * The conditional fetch of manifest.json and its signature.
 *
 * A poll that finds nothing new is one request answered 304: no signature
 * download, no verification. The signature is fetched only after the
 * manifest changed; if the master republishes between the two requests the
 * pair does not verify and the next cycle fetches a consistent pair.
 */
import { boundedGet } from "../http/get.js";
import type { HttpClient } from "../http/tls.js";
import { feedFileUrl } from "./urls.js";

/** Minisign signatures are a few hundred bytes; the trusted comment is capped at 8 KiB. */
export const MAX_SIGNATURE_BYTES = 16 * 1024;

export interface FeedFetchOptions {
  client: HttpClient;
  feedUrl: string;
  maxManifestBytes: number;
  /** Per-request deadline in ms. */
  deadlineMs: number;
  /** Sent as If-None-Match when the manifest it names is still stored. */
  etag: string | null;
}

export type FeedFetchResult =
  | { kind: "not-modified"; bytesRead: number; serverDate: string | null }
  | {
      kind: "fetched";
      manifest: Buffer;
      signature: string;
      etag: string | null;
      bytesRead: number;
      /** The master's Date header on the manifest's answer. */
      serverDate: string | null;
    };

export async function fetchFeed(options: FeedFetchOptions): Promise<FeedFetchResult> {
  const manifestUrl = feedFileUrl(options.feedUrl, "manifest.json");
  const manifest = await boundedGet(manifestUrl, {
    client: options.client,
    maxBytes: options.maxManifestBytes,
    deadlineMs: options.deadlineMs,
    headers: options.etag ? { "if-none-match": options.etag } : {},
    what: "manifest",
  });
  if (manifest.status === 304 || manifest.body === undefined) {
    return { kind: "not-modified", bytesRead: 0, serverDate: manifest.date ?? null };
  }
  const signature = await boundedGet(`${manifest.url}.minisig`, {
    client: options.client,
    maxBytes: MAX_SIGNATURE_BYTES,
    deadlineMs: options.deadlineMs,
    what: "signature",
  });
  return {
    kind: "fetched",
    manifest: manifest.body,
    signature: (signature.body ?? Buffer.alloc(0)).toString("utf8"),
    etag: manifest.etag ?? null,
    bytesRead: manifest.bytesRead + signature.bytesRead,
    serverDate: manifest.date ?? null,
  };
}
