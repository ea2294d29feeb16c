/**
 * Report delivery around a cycle: pending reports go out first (oldest
 * first), the cycle's own report is written to the outbox before any attempt
 * to send it, then sent. Without feed.report_url no report is written.
 */
import type { Config } from "../config/types.js";

import { statePaths } from "../layout/paths.js";
import type { Report } from "../report/build.js";
import { flushOutbox, hasPendingReports, writeToOutbox } from "../report/outbox.js";
import { type AgentDeps, createFeedClient } from "./deps.js";

export async function sendPendingReports(
  config: Config,
  deps: AgentDeps,
): Promise<{ sent: number; pending: number }> {
  const url = config.feed.report_url;
  if (!url) return { sent: 0, pending: 0 };
  const outboxDir = statePaths(config.state_dir).outbox;
  // Most cycles have nothing to send: no TLS context, no connection then.
  if (!(await hasPendingReports(outboxDir))) return { sent: 0, pending: 0 };
  const client = await createFeedClient(config);
  try {
    return await flushOutbox({
      client,
      url,
      outboxDir,
      log: deps.log,
      sleep: deps.sleep,
    });
  } finally {
    await client.close();
  }
}

/**
 * Persists the report (the outbox is the source of truth), runs `persisted`
 * (the cycle's in-flight record is dropped only once its report is safe),
 * then tries to send everything pending.
 */
export async function fileReport(
  config: Config,
  deps: AgentDeps,
  report: Report,
  persisted: () => Promise<void> = async () => undefined,
): Promise<void> {
  if (config.feed.report_url) await writeToOutbox(statePaths(config.state_dir).outbox, report);
  await persisted();
  if (!config.feed.report_url) return;
  deps.failpoint?.("before-report");
  await sendPendingReports(config, deps);
}
