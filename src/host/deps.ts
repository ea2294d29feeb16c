/**
 * The ports every command gets from the composition root (src/host/command-context.ts),
 * and the pipeline's own ports built from them: mTLS clients for the feed and
 * the probe, the restart mode, systemctl, failpoints.
 */
import type { Config } from "../config/types.js";
import { createHttpClient, type HttpClient } from "../http/tls.js";
import type { Logger } from "../log.js";
import type { PipelineDeps } from "../pipeline/context.js";
import { type Failpoint, failpointFrom } from "../pipeline/failpoints.js";
import type { RestartMode } from "../pipeline/steps/restart.js";
import { findOnPath, systemctlAt, systemShuttingDown } from "../process/systemctl.js";

export interface AgentEnv {
  PATH?: string | undefined;
  /** Set by systemd for every service it runs. */
  INVOCATION_ID?: string | undefined;
  DECNET_UPDATER_FAILPOINT?: string | undefined;
  /** Exported by the launcher (launcher/decnet-updater-launch), for self-update. */
  DECNET_UPDATER_LAUNCHER?: string | undefined;
  DECNET_UPDATER_INSTALL_DIR?: string | undefined;
  /** Set by systemd for a Type=notify service: where READY=1 goes (process/sd-notify.ts). */
  NOTIFY_SOCKET?: string | undefined;
}

export interface AgentDeps {
  log: Logger;
  now: () => Date;
  monotonicMs: () => number;
  sleep: (ms: number) => Promise<void>;
  env: AgentEnv;
  /** Set by the composition root from DECNET_UPDATER_FAILPOINT (see pipeline/failpoints.ts). */
  failpoint?: (name: Failpoint) => void;
  /** Aborted when the process was asked to stop: a cycle gives up before rotation (PipelineDeps.stop). */
  stop?: AbortSignal;
}

/** restart.mode "auto": systemd when INVOCATION_ID is set and systemctl is on PATH. */
export async function resolveRestart(
  config: Config,
  env: AgentEnv,
): Promise<{ mode: RestartMode; systemctl: string | null }> {
  const systemctl = await findOnPath("systemctl", env.PATH);
  if (config.restart.mode === "systemd") return { mode: "systemd", systemctl };
  if (config.restart.mode === "process") return { mode: "process", systemctl };
  return { mode: env.INVOCATION_ID && systemctl ? "systemd" : "process", systemctl };
}

/** The mTLS client of the feed: manifest, tarballs and reports share one identity. */
export function createFeedClient(config: Config): Promise<HttpClient> {
  return createHttpClient(
    {
      ca: config.feed.ca,
      cert: config.feed.cert,
      key: config.feed.key,
      serverName: config.feed.server_name,
      keyPrefix: "feed",
    },
    { timeoutMs: config.feed.timeout_ms },
  );
}

/** Pipeline ports for one cycle; call `close` when the cycle ends. */
export async function createPipelineDeps(
  config: Config,
  deps: AgentDeps,
): Promise<PipelineDeps & { close(): Promise<void> }> {
  const feedClient = await createFeedClient(config);
  const probeClient = await createHttpClient(
    { ca: config.probe.ca, cert: config.probe.cert, key: config.probe.key, keyPrefix: "probe" },
    { timeoutMs: Math.max(1000, config.probe.backoff_ms * 4) },
  ).catch(async (error) => {
    await feedClient.close();
    throw error;
  });
  const restart = await resolveRestart(config, deps.env);
  const systemctl = restart.systemctl ? systemctlAt(restart.systemctl) : null;
  return {
    log: deps.log,
    now: deps.now,
    monotonicMs: deps.monotonicMs,
    sleep: deps.sleep,
    restartMode: restart.mode,
    systemctl,
    feedClient,
    probeClient,
    failpoint: failpointFrom(deps.env.DECNET_UPDATER_FAILPOINT),
    ...(deps.stop ? { stop: deps.stop } : {}),
    shuttingDown: async () =>
      restart.mode === "systemd" && systemctl !== null && (await systemShuttingDown(systemctl)),
    async close() {
      await Promise.all([feedClient.close(), probeClient.close()]);
    },
  };
}
