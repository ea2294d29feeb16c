/**
 * `rollback`: the manual way back to releases/prev, under the lock and after
 * recovery (the machinery, crash-safe, is manual-rollback.ts). Refused for a
 * release marked failed on this host unless `force`. Reported with
 * `"manual": true`; exit 0 when the previous release came back healthy, 3
 * when it did not.
 */
import { randomUUID } from "node:crypto";
import type { Config } from "../config/types.js";
import { oneLine } from "../errors.js";
import { type AgentDeps, createPipelineDeps } from "../host/deps.js";
import { fileReport } from "../host/reports.js";
import { lockHost } from "../host/trusted-dirs.js";
import { clearInflight } from "../pipeline/inflight.js";
import type { StepRecord } from "../pipeline/step-record.js";
import type { ReleaseRef, Report } from "../report/build.js";
import { prepareRollback, runPreparedRollback } from "./manual-rollback.js";
import { recoverFirst } from "./recover.js";

export interface RollbackResult {
  status: "rolled_back" | "rollback_failed" | "failed";
  from: ReleaseRef | null;
  to: ReleaseRef;
  error: string | null;
  steps: StepRecord[];
  report: Report;
  exitCode: number;
}

const EXIT_OF: Record<RollbackResult["status"], number> = {
  rolled_back: 0,
  failed: 1,
  rollback_failed: 3,
};

export async function runRollback(
  config: Config,
  deps: AgentDeps,
  options: { force?: boolean } = {},
): Promise<RollbackResult> {
  const lock = await lockHost(config);
  try {
    await recoverFirst(config, deps);
    const prepared = await prepareRollback(config, {
      force: options.force === true,
      reportId: randomUUID(),
      startedAt: deps.now().toISOString(),
    });
    const pipelineDeps = await createPipelineDeps(config, deps);
    let outcome: Awaited<ReturnType<typeof runPreparedRollback>>;
    try {
      outcome = await runPreparedRollback(config, pipelineDeps, prepared);
    } finally {
      await pipelineDeps.close();
    }
    await fileReport(config, deps, outcome.report, () => clearInflight(config.state_dir));
    return {
      status: outcome.status,
      from: outcome.from ? { sha: outcome.from.sha, version: outcome.from.version } : null,
      to: outcome.to,
      error: outcome.error ? oneLine(outcome.error) : null,
      steps: outcome.steps,
      report: outcome.report,
      exitCode: EXIT_OF[outcome.status],
    };
  } finally {
    await lock.release();
  }
}
