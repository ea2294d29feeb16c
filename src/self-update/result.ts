/**
 * What a self-update check ended in, and the answer for a host where it is
 * off: in a module of its own so that a cycle with self-update disabled
 * (the default) never loads the self-update pipeline (docs/performance.md).
 */
import type { Config } from "../config/types.js";
import type { ReleaseRef } from "../report/build.js";

export type SelfStatus =
  | "disabled"
  | "unmanaged"
  | "up_to_date"
  | "skipped"
  | "installed"
  | "failed";

export interface SelfResult {
  status: SelfStatus;
  from: ReleaseRef | null;
  to: ReleaseRef | null;
  /** Why: one line, for the log and `update`'s output. */
  reason: string;
  /** A new release is in the active slot on trial: the running program should make way for it. */
  restart: boolean;
}

/** The result of a check when self_update is off, else null. */
export function selfUpdateDisabled(config: Config): SelfResult | null {
  if (config.self_update.enabled && config.self_update.feed_url !== undefined) return null;
  return {
    status: "disabled",
    reason: "self_update is disabled",
    from: null,
    to: null,
    restart: false,
  };
}
