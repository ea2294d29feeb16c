/**
 * The part of undici this program uses (Agent, buildConnector, request),
 * loaded from undici's own files instead of its index: the index also
 * loads fetch, WebSocket, the HTTP cache, the proxies and the mocks (111
 * modules; about 100 ms of CPU at every `update`'s start). undici is pinned
 * (package.json), and test/http/undici-parts.test.ts checks these files
 * are still the index's.
 */
import { createRequire } from "node:module";
import type * as Undici from "undici";

const load = createRequire(import.meta.url);

export const Agent = load("undici/lib/dispatcher/agent") as typeof Undici.Agent;
export type Agent = Undici.Agent;
export const buildConnector = load("undici/lib/core/connect") as typeof Undici.buildConnector;
const api = load("undici/lib/api") as {
  request: (this: Undici.Dispatcher, options: object) => Promise<Undici.Dispatcher.ResponseData>;
};

/**
 * undici's `request(url, options)`, as the index wraps it, for an absolute
 * URL, an explicit dispatcher and an explicit method (the index would
 * guess GET or PUT).
 */
export function request(
  url: string | URL,
  options: Omit<Undici.Dispatcher.RequestOptions, "origin" | "path" | "method"> & {
    dispatcher: Undici.Dispatcher;
    method: Undici.Dispatcher.HttpMethod;
  },
): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  const parsed = new URL(url);
  return api.request.call(dispatcher, {
    ...rest,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
  });
}
