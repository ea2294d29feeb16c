/**
 * What every command that reads the configuration needs: the config file's
 * path (--config, else $DECNET_UPDATER_CONFIG, else the default), the loaded
 * config, a logger on stderr (stdout belongs to --json), and the clock.
 * This is the one place that reads process.env: the commands' composition
 * root. It sits in host/, not cli/, because the benchmarks load it from
 * dist/ as tsc wrote it, and dist/src/cli/ holds the bundles alone
 * (scripts/bundle.ts).
 *
 * Modules are loaded when a command needs them, not at start: `status` and
 * `--version` must not pay for undici, execa and pino (docs/performance.md).
 */

import { DEFAULT_CONFIG_PATH } from "../config/default-path.js";
import type { Config } from "../config/types.js";
import type { AgentDeps } from "./deps.js";

export interface CommandContext extends AgentDeps {
  config: Config;
}

export function configPath(option: string | undefined): string {
  return option ?? process.env.DECNET_UPDATER_CONFIG ?? DEFAULT_CONFIG_PATH;
}

/** Logs go to stderr (stdout belongs to --json), except the daemon's, which go to stdout (the journal). */
export async function commandContext(
  option: string | undefined,
  logTo: NodeJS.WritableStream = process.stderr,
): Promise<CommandContext> {
  const [{ loadConfig }, { createLogger, logFormatFor }, { failpointFrom }] = await Promise.all([
    import("../config/load.js"),
    import("../log.js"),
    import("../pipeline/failpoints.js"),
  ]);
  const config = await loadConfig(configPath(option));
  // The daemon's readiness goes from it alone: pip, the probe and systemctl must not inherit the
  // socket (the unit is NotifyAccess=all, so whatever they sent would count).
  const notifySocket = process.env.NOTIFY_SOCKET;
  delete process.env.NOTIFY_SOCKET;
  const log = createLogger(
    config.log.level,
    logTo,
    logFormatFor(logTo, process.env.DECNET_UPDATER_LOG_FORMAT),
    !process.env.NO_COLOR, // https://no-color.org
  );
  return {
    config,
    log,
    now: () => new Date(),
    monotonicMs: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    failpoint: failpointFrom(process.env.DECNET_UPDATER_FAILPOINT),
    env: {
      PATH: process.env.PATH,
      INVOCATION_ID: process.env.INVOCATION_ID,
      DECNET_UPDATER_FAILPOINT: process.env.DECNET_UPDATER_FAILPOINT,
      DECNET_UPDATER_LAUNCHER: process.env.DECNET_UPDATER_LAUNCHER,
      DECNET_UPDATER_INSTALL_DIR: process.env.DECNET_UPDATER_INSTALL_DIR,
      NOTIFY_SOCKET: notifySocket,
    },
  };
}
