/**
 * Types for the undici files src/http/undici.ts imports one by one: undici
 * ships types for its index only. Each is the value the index re-exports
 * (test/http/undici-parts.test.ts).
 */
declare module "undici/lib/dispatcher/agent.js" {
  const Agent: typeof import("undici").Agent;
  export default Agent;
}

declare module "undici/lib/core/connect.js" {
  const buildConnector: typeof import("undici").buildConnector;
  export default buildConnector;
}

declare module "undici/lib/api/api-request.js" {
  /** The index's `request` before it is bound to a dispatcher: `this` is the dispatcher. */
  const request: (
    this: import("undici").Dispatcher,
    options: object,
  ) => Promise<import("undici").Dispatcher.ResponseData>;
  export default request;
}
