/** Restart the agent, then probe it for the release it should now run. Shared by update and rollback. */
import type { Config } from "../config/types.js";
import type { InstallPaths } from "../layout/paths.js";
import { unitState } from "../process/systemctl.js";
import type { PipelineDeps } from "./context.js";
import { expandArgv } from "./placeholders.js";
import { type ProbeResult, probeHealth } from "./steps/probe.js";
import { restartAgent } from "./steps/restart.js";

export async function restart(
  config: Config,
  install: InstallPaths,
  deps: PipelineDeps,
): Promise<void> {
  await restartAgent({
    mode: deps.restartMode,
    paths: install,
    units: config.restart.units,
    optionalUnits: config.restart.optional_units,
    command: expandArgv(config.restart.command, {
      install_dir: install.root,
      venv: install.venvLink,
      release: install.active,
    }),
    stopGraceMs: config.restart.stop_grace_ms,
    systemctl: deps.systemctl,
    sleep: deps.sleep,
    monotonicMs: deps.monotonicMs,
    log: deps.log,
  });
}

/**
 * Probes the agent; in systemd mode an unhealthy answer also says what
 * systemd makes of the agent's unit ("failed (start-limit-hit)"), which is
 * often why nothing answers.
 */
export async function probe(
  config: Config,
  deps: PipelineDeps,
  expect: { sha: string; version: string | null },
): Promise<ProbeResult> {
  const result = await probeHealth({
    client: deps.probeClient,
    url: config.probe.url,
    attempts: config.probe.attempts,
    backoffMs: config.probe.backoff_ms,
    soakMs: config.probe.soak_ms,
    identity: config.probe.identity,
    expect,
    sleep: deps.sleep,
    monotonicMs: deps.monotonicMs,
    log: deps.log,
  });
  const unit = config.restart.units[0];
  if (result.healthy || deps.restartMode !== "systemd" || !deps.systemctl || !unit) return result;
  return {
    ...result,
    detail: `${result.detail}; ${unit} is ${await unitState(deps.systemctl, unit)}`,
  };
}

/** daemon-reload after unit files changed, in systemd mode only (process mode still syncs the files). */
export async function daemonReload(deps: PipelineDeps): Promise<void> {
  if (deps.restartMode !== "systemd" || !deps.systemctl) return;
  const result = await deps.systemctl.run(["daemon-reload"]);
  if (!result.ok)
    deps.log.warn(
      { step: "units" },
      `systemctl daemon-reload failed: ${result.stderr.split("\n")[0]}`,
    );
}
