/**
 * `GET /fleet`: one server-rendered page, no script at all and nothing
 * from outside (the answer's Content-Security-Policy says so). Every value
 * that a host sent (host ids, error lines) is escaped: a host must not be
 * able to put markup in front of the operator.
 */
import type { FleetSummary, ReleaseFigures } from "./summary.js";
import { duration, percent } from "./text.js";

export const FLEET_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SEGMENTS = [
  ["updated", "updated", "#2e7d32"],
  ["rolled_back", "rolled back", "#ef6c00"],
  ["rollback_failed", "rollback failed", "#6a1b9a"],
  ["failed", "failed", "#c62828"],
  ["skipped", "skipped", "#9e9e9e"],
] as const;

function bar(release: ReleaseFigures, fleet: number): string {
  const total = Math.max(fleet, release.attempts + release.skipped, 1);
  const segments = SEGMENTS.map(([key, label, colour]) => {
    const n = release[key];
    const width = ((n / total) * 100).toFixed(2);
    return n === 0
      ? ""
      : `<span class="seg ${key}" data-count="${n}" title="${n} ${label}" style="width:${width}%;background:${colour}"></span>`;
  }).join("");
  return `<div class="bar" role="img" aria-label="${escapeHtml(release.version ?? release.sha)}: ${release.updated} of ${total} updated">${segments}</div>`;
}

function cell(value: string | number | null): string {
  return `<td>${escapeHtml(value === null ? "-" : String(value))}</td>`;
}

export function renderFleetHtml(summary: FleetSummary): string {
  const releases = summary.releases
    .map(
      (
        r,
      ) => `<tr class="release" data-component="${r.component}" data-version="${escapeHtml(r.version ?? "")}" data-sha="${escapeHtml(r.sha)}">
  ${cell(r.version ?? "?")}${cell(r.sha.slice(0, 12))}${cell(r.component)}${cell(r.hosts_on)}
  <td class="progress">${bar(r, summary.hosts)}</td>
  ${cell(r.updated)}${cell(r.rolled_back + r.rollback_failed)}${cell(r.failed)}${cell(r.skipped)}<td class="rate">${percent(r.failure_rate)}</td>
</tr>`,
    )
    .join("\n");
  const failing = summary.failing.hosts
    .map(
      (h) =>
        `<tr class="failing">${cell(h.host_id)}${cell(h.status)}${cell(h.to_version)}${cell(h.at)}${cell(h.error)}</tr>`,
    )
    .join("\n");
  const stale = summary.stale.hosts
    .map(
      (h) =>
        `<tr class="stale">${cell(h.host_id)}${cell(h.last_seen)}${cell(h.release_version)}</tr>`,
    )
    .join("\n");
  const legend = SEGMENTS.map(
    ([key, label, colour]) =>
      `<span class="key ${key}"><i style="background:${colour}"></i>${label}</span>`,
  ).join(" ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>DECNET fleet</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #ddd; vertical-align: middle; }
.bar { display: flex; width: 320px; height: 14px; background: #eee; border-radius: 3px; overflow: hidden; }
.seg { display: block; height: 100%; }
.key i { display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: middle; }
.summary { color: #555; }
</style>
</head>
<body>
<h1>DECNET fleet</h1>
<p class="summary" id="summary" data-hosts="${summary.hosts}" data-failing="${summary.failing.count}" data-stale="${summary.stale.count}">${summary.hosts} host(s) have reported; ${summary.failing.count} failing; ${summary.stale.count} not seen for ${duration(summary.stale_after_s)}. Generated ${escapeHtml(summary.generated_at)}.</p>
<h2>Releases</h2>
<p class="legend">${legend}</p>
<table id="releases">
<thead><tr><th>Release</th><th>SHA</th><th>Component</th><th>Hosts on it</th><th>Rollout</th><th>Updated</th><th>Rolled back</th><th>Failed</th><th>Skipped</th><th>Failure rate</th></tr></thead>
<tbody>
${releases}
</tbody>
</table>
<h2>Failing hosts (${summary.failing.count})</h2>
<table id="failing">
<thead><tr><th>Host</th><th>Status</th><th>Target</th><th>When</th><th>Error</th></tr></thead>
<tbody>
${failing}
</tbody>
</table>
<h2>Stale hosts (${summary.stale.count})</h2>
<table id="stale">
<thead><tr><th>Host</th><th>Last seen</th><th>Release</th></tr></thead>
<tbody>
${stale}
</tbody>
</table>
</body>
</html>
`;
}
