/**
 * Hosts say they are alive (issue 18): a cycle that files no report, on a
 * host that has filed none for feed.heartbeat, files a small "current"
 * report naming its active release in `from`. With the default 6 h, 100,000
 * hosts send about 5 a second; the master then knows every host's release
 * and when it was last heard from, not only the hosts that updated.
 */
import type { Config } from "../config/types.js";
import { statePaths } from "../layout/paths.js";
import { nothingTriedReport, type ReleaseRef, type Report } from "../report/build.js";
import { loadState, saveState } from "../state/store.js";
import type { AgentDeps } from "./deps.js";

/** The report to file for this cycle (the heartbeat when one is due), and when a report was last filed. */
export async function withHeartbeat(
  config: Config,
  deps: AgentDeps,
  report: Report | null,
  active: ReleaseRef | null,
  manifestSerial: number | null,
): Promise<Report | null> {
  if (!config.feed.report_url || config.feed.heartbeat_ms === 0) return report;
  const path = statePaths(config.state_dir).state;
  const state = await loadState(path);
  const now = deps.now();
  const last = state.reported_at === null ? Number.NaN : Date.parse(state.reported_at);
  // A clock that went back makes the last report look newer than now: send one.
  const due = !(now.getTime() - last < config.feed.heartbeat_ms && last <= now.getTime());
  if (!report && !due) return null;
  state.reported_at = now.toISOString();
  await saveState(path, state);
  if (report) return report;
  return nothingTriedReport(config, "current", active, manifestSerial, now);
}
