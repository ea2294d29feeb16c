/**
 * `status`: what is installed and what the agent last did, from the files on
 * disk alone (no network), so it answers even when the master is down.
 */
import { readdir } from "node:fs/promises";
import type { Config } from "../config/types.js";
import { installPaths, statePaths } from "../layout/paths.js";
import { readReleaseFile } from "../layout/release-file.js";
import { type UpdaterStatus, updaterStatus } from "../self-update/status.js";
import { type DaemonInfo, readDaemonInfo } from "../state/daemon-info.js";
import { type CheckRecord, type FailedRelease, loadState } from "../state/store.js";

export interface SlotStatus {
  sha: string;
  version: string | null;
  installed_at: string | null;
}

export interface StatusResult {
  active: SlotStatus | null;
  prev: SlotStatus | null;
  pin: { version: string | null; sha: string | null; hold: boolean };
  last_check: CheckRecord | null;
  last_result: CheckRecord | null;
  failed_releases: Record<string, FailedRelease>;
  pending_reports: number;
  highest_serial: number | null;
  /** The running daemon, or null when none holds `daemon.lock`. */
  daemon: Pick<DaemonInfo, "pid" | "started_at" | "next_check" | "phase_s"> | null;
  /** The updater itself: its version, its own slots, a trial (SPEC section 12). */
  updater: UpdaterStatus;
}

function slot(info: Awaited<ReturnType<typeof readReleaseFile>>): SlotStatus | null {
  return info ? { sha: info.sha, version: info.version, installed_at: info.installed_at } : null;
}

export async function runStatus(config: Config): Promise<StatusResult> {
  const install = installPaths(config.install_dir);
  const paths = statePaths(config.state_dir);
  const state = await loadState(paths.state);
  const outbox = await readdir(paths.outbox).catch(() => [] as string[]);
  return {
    active: slot(await readReleaseFile(install.active)),
    prev: slot(await readReleaseFile(install.prev)),
    pin: {
      version: config.pin.version ?? null,
      sha: config.pin.sha ?? null,
      hold: config.pin.hold,
    },
    last_check: state.last_check,
    last_result: state.last_result,
    failed_releases: state.failed_releases,
    pending_reports: outbox.filter((name) => name.endsWith(".json")).length,
    highest_serial: state.highest_serial,
    daemon: await daemonStatus(config.state_dir),
    updater: await updaterStatus(config),
  };
}

async function daemonStatus(stateDir: string): Promise<StatusResult["daemon"]> {
  const info = await readDaemonInfo(stateDir);
  if (!info) return null;
  const { pid, started_at, next_check, phase_s } = info;
  return { pid, started_at, next_check, phase_s };
}
