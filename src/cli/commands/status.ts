import type { StatusResult } from "../../cycle/status.js";
import { codeOf, oneLine } from "../../errors.js";
import { configPath } from "../../host/command-context.js";
import { type CommandSpec, stringOption } from "../command-spec.js";
import { exitCodeForError } from "../exit-codes.js";
import { FAST_COMMAND_OPTIONS } from "../fast-options.js";
import { printError, printJson, printLine } from "../output.js";

function slotLine(name: string, slot: StatusResult["active"]): string {
  if (!slot) return `${name}: none`;
  return `${name}: ${slot.version ?? "unknown version"} (${slot.sha.slice(0, 12)}), installed ${slot.installed_at ?? "at an unknown time"}`;
}

function daemonLine(daemon: StatusResult["daemon"]): string {
  if (!daemon) return "daemon: not running (no `decnet-updater run` holds daemon.lock)";
  const next = daemon.next_check
    ? `next check ${daemon.next_check}${daemon.phase_s > 0 ? ` (this host's splay: ${daemon.phase_s} s after each slot)` : ""}`
    : "stopping";
  return `daemon: running (pid ${daemon.pid}, since ${daemon.started_at}), ${next}`;
}

/** The updater's own lines: what runs, its slots, a trial, its feed. */
function updaterLines(
  updater: StatusResult["updater"],
  record: (r: StatusResult["last_check"]) => string,
): string[] {
  const active = updater.active;
  const trial = updater.trial
    ? `; on trial (start ${updater.trial.starts} of ${updater.trial.limit}; it commits itself once it has verified a manifest)`
    : "";
  const lines = [
    `updater: ${updater.running_version} running${active ? `; active slot ${active.version ?? "?"} (${active.sha.slice(0, 12)})` : ""}${updater.prev ? `, prev ${updater.prev.version ?? "?"} (${updater.prev.sha.slice(0, 12)})` : ""}${trial}`,
  ];
  if (updater.trial_failed_pending)
    lines.push("updater: the launcher put the previous release back; the next cycle reports it");
  if (!updater.enabled) {
    lines.push(`updater self-update: disabled (install dir ${updater.install_dir})`);
    return lines;
  }
  const failed = Object.entries(updater.failed_releases).map(
    ([sha, f]) => `${f.version} (${sha.slice(0, 12)}) since ${f.marked_at}`,
  );
  lines.push(
    `updater self-update: from ${updater.feed_url} into ${updater.install_dir}`,
    `updater last check: ${record(updater.last_check)}`,
    `updater last result: ${record(updater.last_result)}`,
    `updater failed releases: ${failed.length ? failed.join("; ") : "none"}`,
  );
  return lines;
}

function human(status: StatusResult): string[] {
  const pin = [
    status.pin.sha ? `sha ${status.pin.sha}` : null,
    status.pin.version ? `version ${status.pin.version}` : null,
    status.pin.hold ? "hold" : null,
  ].filter(Boolean);
  const record = (r: StatusResult["last_check"]) =>
    r ? `${r.status} at ${r.at}${r.error ? `: ${r.error}` : ""}` : "never";
  const failed = Object.entries(status.failed_releases).map(
    ([sha, f]) => `${f.version} (${sha.slice(0, 12)}) since ${f.marked_at}`,
  );
  return [
    slotLine("active", status.active),
    slotLine("prev", status.prev),
    `pin: ${pin.length ? pin.join(", ") : "none (follows latest)"}`,
    `last check: ${record(status.last_check)}`,
    `last result: ${record(status.last_result)}`,
    `failed releases: ${failed.length ? failed.join("; ") : "none"}`,
    `pending reports: ${status.pending_reports}`,
    daemonLine(status.daemon),
    ...updaterLines(status.updater, record),
  ];
}

export const statusCommand: CommandSpec = {
  name: "status",
  description: "slots, pin, last check and result, failed releases, pending reports (no network)",
  options: FAST_COMMAND_OPTIONS.status,
  async action(options) {
    const { loadConfig } = await import("../../config/load.js");
    const { runStatus } = await import("../../cycle/status.js");
    try {
      const status = await runStatus(await loadConfig(configPath(stringOption(options.config))));
      if (options.json) printJson(status);
      else for (const line of human(status)) printLine(line);
    } catch (error) {
      if (options.json)
        printJson({
          error: oneLine(error),
          code: codeOf(error),
        });
      else printError(error);
      process.exitCode = exitCodeForError(error);
    }
  },
};
