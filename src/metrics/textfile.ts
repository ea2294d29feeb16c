/**
 * The Prometheus textfile of SPEC section 10, for node_exporter's textfile
 * collector: rewritten whole after every cycle with a temp file and rename(2)
 * (the collector must never read half a file).
 */

import { writeFileAtomic } from "../fs/atomic.js";
import type { ReleaseInfo } from "../layout/release-file.js";
import { OUTCOME_STATUSES } from "../report/statuses.js";
import type { State } from "../state/store.js";

/** The updater's own release, as the textfile shows it (self-update/status.ts fills it in). */
export interface UpdaterMetrics {
  version: string;
  activeSha: string | null;
  onTrial: boolean;
  updatesTotal: Record<string, number>;
}

/** The outcomes counted, one series each: the report's own words (report/statuses.ts). */
export const UPDATE_RESULTS = OUTCOME_STATUSES;

export interface MetricsInput {
  state: State;
  active: ReleaseInfo | null;
  pendingReports: number;
  /** The updater itself (SPEC section 12). */
  updater?: UpdaterMetrics;
}

/** Outcomes of the updater's own updates. */
export const SELF_UPDATE_RESULTS = ["updated", "rolled_back", "failed"] as const;

/** Label values escaped as the exposition format wants (backslash, quote, newline). */
/** A Prometheus label value, escaped (also the master's /metrics). */
export function promLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function seconds(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

export function renderMetrics(input: MetricsInput): string {
  const { state } = input;
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number | null, type = "gauge") => {
    if (value === null) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  gauge(
    "decnet_updater_last_check_timestamp_seconds",
    "Unix time of the last check.",
    seconds(state.last_check?.at),
  );
  gauge(
    "decnet_updater_last_success_timestamp_seconds",
    "Unix time of the last cycle that ended updated or up to date.",
    seconds(state.metrics.last_success_at),
  );
  lines.push(
    "# HELP decnet_updater_updates_total Update cycles by result.",
    "# TYPE decnet_updater_updates_total counter",
  );
  for (const result of UPDATE_RESULTS) {
    lines.push(
      `decnet_updater_updates_total{result="${result}"} ${state.metrics.updates_total[result] ?? 0}`,
    );
  }
  if (input.active) {
    lines.push(
      "# HELP decnet_updater_active_release_info The release in releases/active.",
      "# TYPE decnet_updater_active_release_info gauge",
      `decnet_updater_active_release_info{sha="${promLabel(input.active.sha)}",version="${promLabel(input.active.version ?? "")}"} 1`,
    );
  }
  gauge(
    "decnet_updater_manifest_serial",
    "Highest manifest serial this host accepted.",
    state.highest_serial,
  );
  gauge(
    "decnet_updater_pending_reports",
    "Reports in the outbox, not yet delivered.",
    input.pendingReports,
  );
  gauge(
    "decnet_updater_last_update_duration_seconds",
    "Wall time of the last update that ran the pipeline.",
    state.metrics.last_update_duration_s,
  );
  if (input.updater) renderUpdater(lines, input.updater);
  return `${lines.join("\n")}\n`;
}

function renderUpdater(lines: string[], updater: UpdaterMetrics): void {
  lines.push(
    "# HELP decnet_updater_self_release_info The running updater and the sha of its active slot.",
    "# TYPE decnet_updater_self_release_info gauge",
    `decnet_updater_self_release_info{sha="${promLabel(updater.activeSha ?? "")}",version="${promLabel(updater.version)}"} 1`,
    "# HELP decnet_updater_self_on_trial 1 while a new updater release runs on trial (not committed yet).",
    "# TYPE decnet_updater_self_on_trial gauge",
    `decnet_updater_self_on_trial ${updater.onTrial ? 1 : 0}`,
    "# HELP decnet_updater_self_updates_total The updater's own updates by result.",
    "# TYPE decnet_updater_self_updates_total counter",
  );
  for (const result of SELF_UPDATE_RESULTS)
    lines.push(
      `decnet_updater_self_updates_total{result="${result}"} ${updater.updatesTotal[result] ?? 0}`,
    );
}

export async function writeMetrics(path: string, input: MetricsInput): Promise<void> {
  await writeFileAtomic(path, renderMetrics(input), 0o644);
}
