/**
 * GET with our limits: an overall deadline, conditional headers, redirects
 * followed only within the same origin, and every failure (also one while
 * the body streams) turned into a stable error code.
 *
 * Redirects are handled here rather than by undici's interceptor because the
 * interceptor cannot refuse a cross-origin hop, and a mirror that redirects
 * to another host would otherwise receive our client certificate.
 */
import type { Dispatcher } from "undici";
import { UpdaterError } from "../errors.js";
import { deadline } from "./deadline.js";
import { closesRightAfterHandshake } from "./diagnose.js";
import { classifyNetworkError, isEmptyHangUp } from "./errors.js";
import type { HttpClient } from "./tls.js";
import { request } from "./undici.js";

export interface GetOptions {
  client: HttpClient;
  /** Whole-request limit in ms: a server that dribbles bytes cannot hold us longer. */
  deadlineMs: number;
  headers?: Record<string, string>;
  /** What is fetched, for error messages ("manifest", "signature", "tarball"). */
  what: string;
  /** Bytes the response body buffers before it pauses the connection (undici's default 64 KiB). */
  highWaterMark?: number;
  /** Aborts the request when aborted (a stop request), as the deadline does. */
  cancel?: AbortSignal;
}

export type ResponseBody = Dispatcher.ResponseData["body"];

/** A 2xx response, handed to the consumer; 304 is passed through too. */
export interface OkResponse {
  status: number;
  url: string;
  etag: string | undefined;
  /** The server's Date header (the master's clock, for the preflight's clock check). */
  date: string | undefined;
  contentLength: number | undefined;
  body: ResponseBody;
}

const MAX_REDIRECTS = 5;

/**
 * Runs `consume` on the final 2xx or 304 response. Errors thrown by
 * `consume` (body stream failures, our own limits) are classified too.
 */
export async function withGet<T>(
  url: string,
  options: GetOptions,
  consume: (response: OkResponse) => Promise<T>,
): Promise<T> {
  const timer = deadline(options.deadlineMs, options.cancel);
  const { signal } = timer;
  let current = url;
  try {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await request(current, {
        dispatcher: options.client.dispatcher,
        method: "GET",
        headers: options.headers ?? {},
        signal,
        ...(options.highWaterMark ? { highWaterMark: options.highWaterMark } : {}),
      });
      const status = response.statusCode;
      if (status >= 300 && status < 400 && status !== 304) {
        discard(response.body);
        current = sameOriginRedirect(current, header(response.headers, "location"), options.what);
        continue;
      }
      if (status !== 304 && (status < 200 || status >= 300)) {
        throw await statusError(response, current, options.what);
      }
      const length = header(response.headers, "content-length");
      return await consume({
        status,
        url: current,
        etag: header(response.headers, "etag"),
        date: header(response.headers, "date"),
        contentLength: length === undefined ? undefined : Number(length),
        body: response.body,
      });
    }
    throw new UpdaterError(
      "E_REDIRECT",
      `${options.what} ${url}: more than ${MAX_REDIRECTS} redirects`,
    );
  } catch (error) {
    const classified = classifyNetworkError(
      signal.aborted ? signal.reason : error,
      options.what,
      current,
    );
    if (
      isEmptyHangUp(error) &&
      (await closesRightAfterHandshake(current, options.client.identity))
    ) {
      throw new UpdaterError(
        "E_TLS_CLIENT",
        `${options.what} ${current}: the master refused our client certificate (it closes the connection right after the TLS handshake)`,
        { cause: error },
      );
    }
    throw classified;
  } finally {
    timer.clear();
  }
}

export interface BufferedResult {
  status: number;
  url: string;
  etag: string | undefined;
  date: string | undefined;
  /** Absent for 304. */
  body: Buffer | undefined;
  bytesRead: number;
}

/** A GET whose body is read into memory, at most `maxBytes` of it. */
export function boundedGet(
  url: string,
  options: GetOptions & { maxBytes: number },
): Promise<BufferedResult> {
  return withGet(url, options, async (response) => {
    if (response.status === 304) {
      discard(response.body);
      return {
        status: 304,
        url: response.url,
        etag: response.etag,
        date: response.date,
        body: undefined,
        bytesRead: 0,
      };
    }
    const body = await readCapped(response, options.maxBytes, options.what);
    return {
      status: response.status,
      url: response.url,
      etag: response.etag,
      date: response.date,
      body,
      bytesRead: body.length,
    };
  });
}

/** Drops a body we will not read; undici reports the abort as an error nobody needs. */
export function discard(body: ResponseBody): void {
  body.on("error", () => undefined);
  body.destroy();
}

export function tooLarge(what: string, url: string, limit: number, found: string): UpdaterError {
  return new UpdaterError("E_TOO_LARGE", `${what} ${url}: larger than ${limit} bytes (${found})`);
}

function header(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sameOriginRedirect(from: string, location: string | undefined, what: string): string {
  if (!location)
    throw new UpdaterError("E_REDIRECT", `${what} ${from}: redirect without a Location`);
  const target = new URL(location, from);
  if (target.origin !== new URL(from).origin) {
    throw new UpdaterError(
      "E_REDIRECT",
      `${what} ${from}: redirect to another origin refused (${target.origin})`,
    );
  }
  return target.href;
}

async function readCapped(response: OkResponse, maxBytes: number, what: string): Promise<Buffer> {
  if (response.contentLength !== undefined && response.contentLength > maxBytes) {
    discard(response.body);
    throw tooLarge(what, response.url, maxBytes, `Content-Length ${response.contentLength}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      discard(response.body);
      throw tooLarge(what, response.url, maxBytes, `${total} bytes read`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** The first `max` bytes or so of an answer's body, as latin1 text (the rest is not read). */
export async function bodyPrefix(body: AsyncIterable<unknown>, max: number): Promise<string> {
  let text = "";
  for await (const chunk of body) {
    text += (chunk as Buffer).toString("latin1");
    if (text.length > max) break;
  }
  return text.slice(0, max);
}

/**
 * nginx answers a refused or missing client certificate with HTTP 400 and a
 * page that says so; that is a certificate problem, not a feed problem.
 */
async function statusError(
  response: Dispatcher.ResponseData,
  url: string,
  what: string,
): Promise<UpdaterError> {
  const text = response.statusCode === 400 ? await bodyPrefix(response.body, 4096) : "";
  discard(response.body);
  if (/SSL certificate/i.test(text)) {
    return new UpdaterError(
      "E_TLS_CLIENT",
      `${what} ${url}: the master refused our client certificate (HTTP 400 from the TLS front end)`,
    );
  }
  return new UpdaterError("E_HTTP_STATUS", `${what} ${url}: HTTP ${response.statusCode}`);
}
