/**
 * `update`: one whole cycle now, under the lock, as the daemon runs it on
 * its schedule. Recovery first (an interrupted update is settled), a failed
 * trial of the updater's own release settled, pending reports sent, then
 * DECNET's cycle (agent/update.ts), its report filed (with the certificate
 * warnings), then the updater's own cycle (self-update/cycle.ts), and the
 * metrics textfile rewritten whatever happened.
 */

import type { AppResult } from "../agent/app-result.js";
import { recoverFirst } from "../agent/recover.js";
import { appCycle } from "../agent/update.js";
import type { Config } from "../config/types.js";
import { codeOf, isUpdaterError, oneLine } from "../errors.js";
import type { AgentDeps } from "../host/deps.js";
import { withHeartbeat } from "../host/heartbeat.js";
import { fileReport, sendPendingReports } from "../host/reports.js";
import { lockHost } from "../host/trusted-dirs.js";
import { withCertificateWarnings } from "../host/warnings.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { readReleaseFile } from "../layout/release-file.js";
import { writeMetrics } from "../metrics/textfile.js";
import { clearInflight } from "../pipeline/inflight.js";
import { type Report, reportOf } from "../report/build.js";
import { pendingReports } from "../report/outbox.js";
import { type SelfResult, selfUpdateDisabled } from "../self-update/result.js";
import { updaterMetrics } from "../self-update/status.js";
import { commitTrial, settleFailedTrial } from "../self-update/trial.js";
import { loadState, StateMovedAside } from "../state/store.js";

export type { UpdateStatus } from "../agent/app-result.js";

export interface UpdateResult extends AppResult {
  /** The updater's own cycle, which runs after DECNET's (SPEC section 12). */
  self: SelfResult | null;
}

export async function runUpdate(
  config: Config,
  deps: AgentDeps,
  options: { force: boolean },
): Promise<UpdateResult> {
  const lock = await lockHost(config);
  try {
    await recoverFirst(config, deps);
    await settleFailedTrial(config, deps).catch((error) =>
      deps.log.error(
        { component: "updater", code: isUpdaterError(error) ? error.code : "E_IO" },
        `Could not settle the failed self-update: ${oneLine(error)}`,
      ),
    );
    await sendPendingReports(config, deps);
    let app: AppResult;
    try {
      app = await appCycle(config, deps, {
        force: options.force,
        onVerified: () =>
          commitTrial(config, deps).catch((error) =>
            deps.log.error(
              { component: "updater", code: isUpdaterError(error) ? error.code : "E_IO" },
              `Could not commit this updater release: ${oneLine(error)}`,
            ),
          ),
      });
    } catch (error) {
      // A corrupt state file is reported: the master should know this host refuses manifests.
      if (error instanceof StateMovedAside)
        await fileReport(config, deps, stateReport(config, deps, error));
      // DECNET's feed failing must not keep the updater from updating itself.
      await selfCycle(config, deps);
      throw error;
    }
    const warned = await withCertificateWarnings(
      config,
      deps,
      app.report,
      app.manifestSerial,
    ).catch((error) => {
      deps.log.warn({ code: "E_IO" }, `Certificate warnings not checked: ${oneLine(error)}`);
      return app.report;
    });
    const report = await withHeartbeat(config, deps, warned, app.from, app.manifestSerial).catch(
      (error) => {
        deps.log.warn({ code: "E_IO" }, `Heartbeat not filed: ${oneLine(error)}`);
        return warned;
      },
    );
    if (report) await fileReport(config, deps, report, () => clearInflight(config.state_dir));
    return { ...app, report, self: await selfCycle(config, deps) };
  } finally {
    // Every cycle rewrites the textfile, also one that failed.
    if (config.metrics.textfile)
      await publishMetrics(config, config.metrics.textfile).catch((error) =>
        deps.log.warn({ code: "E_IO" }, `Metrics not written: ${oneLine(error)}`),
      );
    await lock.release();
  }
}

/**
 * The updater's own cycle, after DECNET's (so DECNET's update goes first,
 * and one that waits for a newer updater finds it installed next time). Its
 * failures are logged and reported, never the cycle's exit code.
 */
async function selfCycle(config: Config, deps: AgentDeps): Promise<SelfResult | null> {
  // Stopping (systemctl stop, a shutdown): the updater's own install would rotate its slots
  // under a stop; it waits for the next cycle.
  if (deps.stop?.aborted) {
    if (config.self_update.enabled)
      deps.log.info(
        { component: "updater" },
        "Self-update check skipped: the updater is stopping.",
      );
    return null;
  }
  const disabled = selfUpdateDisabled(config);
  if (disabled) return disabled;
  try {
    // loaded only when self-update is on: its pipeline is a third of an update's modules
    const { runSelfCycle } = await import("../self-update/cycle.js");
    return await runSelfCycle(config, deps);
  } catch (error) {
    deps.log.error(
      { component: "updater", code: codeOf(error) },
      `Self-update check failed: ${oneLine(error)}`,
    );
    return null;
  }
}

async function publishMetrics(config: Config, path: string): Promise<void> {
  const paths = statePaths(config.state_dir);
  await writeMetrics(path, {
    state: await loadState(paths.state),
    active: await readReleaseFile(installPaths(config.install_dir).active),
    pendingReports: (await pendingReports(paths.outbox)).length,
    updater: await updaterMetrics(config),
  });
}

function stateReport(config: Config, deps: AgentDeps, error: unknown): Report {
  const now = deps.now().toISOString();
  return reportOf(config, {
    status: "failed",
    from: null,
    to: null,
    manifest_serial: null,
    started_at: now,
    finished_at: now,
    steps: [],
    error,
    stderr: null,
  });
}
