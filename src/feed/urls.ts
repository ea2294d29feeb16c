/**
 * Where a feed's files are: manifest.json, its signature and the tarballs,
 * all below the feed's base URL. A release URL from the signed manifest is
 * checked after resolution too: it must keep the feed's origin and lie under
 * the feed's path, so a release author's odd URL (or a parser quirk) can
 * never make a host fetch from another server or over plain HTTP.
 */
import { UpdaterError } from "../errors.js";
import { isSafeRelativeUrl } from "./manifest.js";

function feedBase(feedUrl: string): URL {
  return new URL(feedUrl.endsWith("/") ? feedUrl : `${feedUrl}/`);
}

/** A file the feed itself names (manifest.json): no check needed beyond the join. */
export function feedFileUrl(feedUrl: string, relative: string): string {
  return new URL(relative, feedBase(feedUrl)).href;
}

/**
 * A release's tarball URL, or E_MANIFEST naming `where` when it would leave
 * the feed. Used when the manifest is accepted and again when the tarball is
 * fetched (one function, so the two can never disagree).
 */
export function releaseFileUrl(feedUrl: string, relative: string, where = "release url"): string {
  const base = feedBase(feedUrl);
  const refuse = (why: string) =>
    new UpdaterError(
      "E_MANIFEST",
      `manifest: ${where}: expected a path below the feed ${base.href}, found ${JSON.stringify(relative.slice(0, 120))} (${why})`,
    );
  if (!isSafeRelativeUrl(relative))
    throw refuse("white space, a control character, a scheme, '..' or an absolute path");
  const url = new URL(relative, base);
  if (url.origin !== base.origin) throw refuse(`it resolves to ${url.origin}`);
  if (!url.pathname.startsWith(base.pathname) || url.search !== "" || url.hash !== "")
    throw refuse(`it resolves to ${url.href}`);
  return url.href;
}
