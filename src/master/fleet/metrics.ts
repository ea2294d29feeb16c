/** `GET /metrics`: the fleet summary in Prometheus text format. */
import { promLabel } from "../../metrics/textfile.js";
import { OUTCOME_STATUSES } from "../../report/statuses.js";
import type { FleetSummary } from "./summary.js";

export function renderFleetMetrics(summary: FleetSummary): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: string[]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  const release = (r: FleetSummary["releases"][number]) =>
    `component="${r.component}",version="${promLabel(r.version ?? "")}",sha="${promLabel(r.sha)}"`;
  metric("decnet_fleet_hosts", "gauge", "Hosts that have reported at least once.", [
    `decnet_fleet_hosts ${summary.hosts}`,
  ]);
  metric(
    "decnet_fleet_release_hosts",
    "gauge",
    "Hosts on each DECNET release, by their newest report.",
    summary.releases
      .filter((r) => r.component === "decnet")
      .map((r) => `decnet_fleet_release_hosts{${release(r)}} ${r.hosts_on}`),
  );
  metric(
    "decnet_fleet_release_outcomes",
    "gauge",
    `Hosts whose latest attempt at a release ended so (${OUTCOME_STATUSES.join(", ")}).`,
    summary.releases.flatMap((r) =>
      OUTCOME_STATUSES.map(
        (outcome) =>
          `decnet_fleet_release_outcomes{${release(r)},outcome="${outcome}"} ${r[outcome]}`,
      ),
    ),
  );
  metric(
    "decnet_fleet_release_failure_ratio",
    "gauge",
    "Share of the hosts that tried a release and did not end on it (rolled back, rollback failed, failed).",
    summary.releases
      .filter((r) => r.failure_rate !== null)
      .map((r) => `decnet_fleet_release_failure_ratio{${release(r)}} ${r.failure_rate}`),
  );
  metric(
    "decnet_fleet_reports_total",
    "counter",
    "Reports stored, by status.",
    Object.entries(summary.reports).map(
      ([status, n]) => `decnet_fleet_reports_total{status="${promLabel(status)}"} ${n}`,
    ),
  );
  metric("decnet_fleet_stale_hosts", "gauge", "Hosts not heard from for stale_after_seconds.", [
    `decnet_fleet_stale_hosts{stale_after_seconds="${summary.stale_after_s}"} ${summary.stale.count}`,
  ]);
  metric("decnet_fleet_failing_hosts", "gauge", "Hosts whose newest outcome is a failure.", [
    `decnet_fleet_failing_hosts ${summary.failing.count}`,
  ]);
  return `${lines.join("\n")}\n`;
}
