/**
 * Certificate warnings reach the master (issue 9): a client certificate or
 * CA that expires within 7 days is named in the cycle's report, or, when the
 * cycle has nothing to report, in a report of its own ("status": "warning"),
 * sent again after 24 hours or as soon as the warnings change.
 */
import type { Config } from "../config/types.js";
import { statePaths } from "../layout/paths.js";
import { nothingTriedReport, type Report } from "../report/build.js";
import { loadState, saveState } from "../state/store.js";
import { certificateFindings, certificateWarnings } from "./certificates.js";
import type { AgentDeps } from "./deps.js";

const REPEAT_MS = 24 * 3600 * 1000;

/** The report to file for this cycle, with the warnings added; null when there is nothing to send. */
export async function withCertificateWarnings(
  config: Config,
  deps: AgentDeps,
  report: Report | null,
  manifestSerial: number | null,
): Promise<Report | null> {
  const now = deps.now();
  const warnings = certificateWarnings(await certificateFindings(config, now));
  if (warnings.length === 0) return report;
  for (const warning of warnings) deps.log.warn({ code: "E_TLS_CLIENT" }, `Preflight: ${warning}.`);
  const path = statePaths(config.state_dir).state;
  const state = await loadState(path);
  const text = warnings.join("\n");
  const due =
    state.warned === null ||
    state.warned.text !== text ||
    now.getTime() - Date.parse(state.warned.at) >= REPEAT_MS;
  if (!report && !due) return null;
  state.warned = { text, at: now.toISOString() };
  await saveState(path, state);
  if (report) return { ...report, warnings };
  return { ...nothingTriedReport(config, "warning", null, manifestSerial, now), warnings };
}
