/**
 * `fleet` on a terminal: aligned columns, one table per question. Every
 * value a host sent goes through `printable`: no escape sequence, line
 * break or direction mark of a host's reaches the operator's terminal.
 */
import type { FleetSummary, HostReport } from "./summary.js";

// C0 and C1 controls, DEL, line and paragraph separators, bidi marks and isolates
const UNPRINTABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function printable(value: string | null | undefined): string {
  return (value ?? "").replace(UNPRINTABLE, "\ufffd");
}

export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map(printable)
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** 86400 -> "1d", 7200 -> "2h": the way the config and --stale spell durations. */
export function duration(seconds: number): string {
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

export function percent(rate: number | null): string {
  return rate === null ? "-" : `${(rate * 100).toFixed(1)}%`;
}

function ago(iso: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function renderFleetText(summary: FleetSummary): string {
  const now = new Date(summary.generated_at);
  const out: string[] = [`${summary.hosts} host(s) have reported.`, ""];
  out.push(
    ...table(
      [
        "RELEASE",
        "SHA",
        "COMPONENT",
        "ON",
        "UPDATED",
        "ROLLED_BACK",
        "FAILED",
        "SKIPPED",
        "FAILURE",
      ],
      summary.releases.map((r) => [
        r.version ?? "?",
        r.sha.slice(0, 12),
        r.component,
        String(r.hosts_on),
        String(r.updated),
        String(r.rolled_back + r.rollback_failed),
        String(r.failed),
        String(r.skipped),
        percent(r.failure_rate),
      ]),
    ),
  );
  out.push("", `Failing: ${summary.failing.count} host(s) whose newest outcome is a failure.`);
  if (summary.failing.hosts.length)
    out.push(
      ...table(
        ["HOST", "STATUS", "TARGET", "WHEN", "ERROR"],
        summary.failing.hosts.map((h) => [
          h.host_id,
          h.status,
          h.to_version ?? "?",
          ago(h.at, now),
          h.error ?? "",
        ]),
      ),
    );
  out.push(
    "",
    `Stale: ${summary.stale.count} host(s) not seen for ${duration(summary.stale_after_s)}.`,
  );
  if (summary.stale.hosts.length)
    out.push(
      ...table(
        ["HOST", "LAST_SEEN", "RELEASE"],
        summary.stale.hosts.map((h) => [
          h.host_id,
          `${h.last_seen} (${ago(h.last_seen, now)})`,
          h.release_version ?? "?",
        ]),
      ),
    );
  return `${out.join("\n")}\n`;
}

export function renderHostText(hostId: string, reports: HostReport[]): string {
  if (reports.length === 0) return `No reports from ${printable(hostId)}.\n`;
  const out: string[] = [];
  for (const r of reports) {
    out.push(
      printable(
        `${r.finished_at}  ${r.status}  ${r.from_version ?? "-"} -> ${r.to_version ?? "-"}  (${r.id})`,
      ),
      ...(r.error ? [`  error: ${printable(r.error)}`] : []),
      ...(r.steps.length
        ? [
            `  steps: ${printable(r.steps.map((s) => `${s.name} ${s.ms}ms${s.ok ? "" : " FAILED"}`).join(", "))}`,
          ]
        : []),
    );
  }
  return `${out.join("\n")}\n`;
}
