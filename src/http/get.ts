/**
 * A bounded GET: at most `maxBytes` read, an overall deadline, conditional
 * headers, and redirects followed only within the same origin.
 *
 * Redirects are handled here rather than by undici's interceptor because the
 * interceptor cannot refuse a cross-origin hop, and a mirror that redirects
 * to another host would otherwise receive our client certificate.
 */
import type { Dispatcher } from "undici";
import { request } from "undici";
import { UpdaterError } from "../errors.js";
import { closesRightAfterHandshake } from "./diagnose.js";
import { classifyNetworkError, isEmptyHangUp } from "./errors.js";
import type { HttpClient } from "./tls.js";

export interface GetOptions {
  client: HttpClient;
  maxBytes: number;
  /** Whole-request limit in ms: a server that dribbles bytes cannot hold us longer. */
  deadlineMs: number;
  headers?: Record<string, string>;
  /** What is fetched, for error messages ("manifest", "signature"). */
  what: string;
}

export interface GetResult {
  status: number;
  /** The final URL after same-origin redirects. */
  url: string;
  etag: string | undefined;
  /** Absent for 304. */
  body: Buffer | undefined;
  /** Bytes received in bodies, for metrics. */
  bytesRead: number;
}

const MAX_REDIRECTS = 5;

export async function boundedGet(url: string, options: GetOptions): Promise<GetResult> {
  const signal = AbortSignal.timeout(options.deadlineMs);
  let current = url;
  try {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await request(current, {
        dispatcher: options.client.dispatcher,
        method: "GET",
        headers: options.headers ?? {},
        signal,
      });
      const status = response.statusCode;
      if (status >= 300 && status < 400 && status !== 304) {
        await response.body.dump();
        current = sameOriginRedirect(current, header(response.headers, "location"), options.what);
        continue;
      }
      const etag = header(response.headers, "etag");
      if (status === 304) {
        await response.body.dump();
        return { status, url: current, etag, body: undefined, bytesRead: 0 };
      }
      if (status < 200 || status >= 300) throw await statusError(response, current, options.what);
      const body = await readCapped(
        response.body,
        header(response.headers, "content-length"),
        current,
        options,
      );
      return { status, url: current, etag, body, bytesRead: body.length };
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
  }
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
  let text = "";
  if (response.statusCode === 400) {
    for await (const chunk of response.body) {
      text += (chunk as Buffer).toString("latin1");
      if (text.length > 4096) break;
    }
  }
  discard(response.body);
  if (/SSL certificate/i.test(text)) {
    return new UpdaterError(
      "E_TLS_CLIENT",
      `${what} ${url}: the master refused our client certificate (HTTP 400 from the TLS front end)`,
    );
  }
  return new UpdaterError("E_HTTP_STATUS", `${what} ${url}: HTTP ${response.statusCode}`);
}

/** Drops a body we will not read; undici reports the abort as an error nobody needs. */
function discard(body: Dispatcher.ResponseData["body"]): void {
  body.on("error", () => undefined);
  body.destroy();
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

async function readCapped(
  body: Dispatcher.ResponseData["body"],
  contentLength: string | undefined,
  url: string,
  options: GetOptions,
): Promise<Buffer> {
  const tooLarge = (found: string) =>
    new UpdaterError(
      "E_TOO_LARGE",
      `${options.what} ${url}: larger than ${options.maxBytes} bytes (${found})`,
    );
  if (contentLength !== undefined && Number(contentLength) > options.maxBytes) {
    discard(body);
    throw tooLarge(`Content-Length ${contentLength}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > options.maxBytes) {
      discard(body);
      throw tooLarge(`${total} bytes read`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
