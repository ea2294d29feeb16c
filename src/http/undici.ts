/**
 * The part of undici this program uses (Agent, buildConnector, request),
 * imported from undici's own files instead of its index: the index also
 * loads fetch, WebSocket, the HTTP cache, the proxies and the mocks (111
 * modules; about 100 ms of CPU at every `update`'s start). As imports, not
 * require(), so the bundle carries them (scripts/bundle.ts): a 304 `update`
 * then reads no file of node_modules. undici is pinned (package.json), and
 * test/http/undici-parts.test.ts checks these files are still the index's.
 */
import type * as Undici from "undici";
import apiRequest from "undici/lib/api/api-request.js";
import connector from "undici/lib/core/connect.js";
import AgentClass from "undici/lib/dispatcher/agent.js";

export const Agent = AgentClass;
export type Agent = Undici.Agent;
export const buildConnector = connector;

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
  return apiRequest.call(dispatcher, {
    ...rest,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
  });
}
