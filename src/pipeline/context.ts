/**
 * What one update cycle knows (UpdateContext) and the ports it may use
 * (PipelineDeps). Steps take these two and nothing else: no step reads
 * process.env, the wall clock or the PATH on its own.
 */
import type { Config } from "../config/types.js";
import type { UpdaterError } from "../errors.js";
import type { Release } from "../feed/manifest.js";
import type { HttpClient } from "../http/tls.js";
import type { InstallPaths, StatePaths } from "../layout/paths.js";
import type { ReleaseInfo } from "../layout/release-file.js";
import type { Logger } from "../log.js";
import type { Systemctl } from "../process/systemctl.js";
import type { Failpoint } from "./failpoints.js";
import type { StepRecord } from "./step-record.js";
import type { Downloaded } from "./steps/download.js";
import type { PromoteRecord } from "./steps/promote.js";
import type { RestartMode } from "./steps/restart.js";
import type { UnitChange, UnitFile } from "./steps/units.js";

export interface PipelineDeps {
  log: Logger;
  now: () => Date;
  monotonicMs: () => number;
  sleep: (ms: number) => Promise<void>;
  restartMode: RestartMode;
  systemctl: Systemctl | null;
  /** The mTLS client of the feed (tarball download). */
  feedClient: HttpClient;
  /** The mTLS client of the agent's health endpoint. */
  probeClient: HttpClient;
  /** SIGKILLs the process at a named point when the failpoint env var says so. */
  failpoint: (name: Failpoint) => void;
  /**
   * Aborted when the process was asked to stop (SIGTERM, SIGINT): the steps
   * before rotation give up (a download or pip is cut off) and the cycle is
   * abandoned; from rotation on the update finishes.
   */
  stop?: AbortSignal;
  /** Whether the init system is shutting down (systemd mode: `is-system-running` says "stopping"). */
  shuttingDown?: () => Promise<boolean>;
}

export interface UpdateContext {
  config: Config;
  install: InstallPaths;
  state: StatePaths;
  target: Release;
  tarballUrl: string;
  manifestSerial: number;
  /** What ran before this cycle (null: nothing, or an unreadable release file). */
  from: ReleaseInfo | null;
  /** "venvs/<dir>" of the staged release. */
  venvRelative: string;
  /** The report's id, fixed at the start so a recovered cycle reports under the same id. */
  reportId: string;
  startedAt: string;
  /** Steps finished so far (the runner appends; the in-flight record keeps them). */
  steps: StepRecord[];
  // filled in as the steps run
  downloaded?: Downloaded;
  tarball?: string;
  units: UnitFile[];
  hadActive: boolean;
  rotated: boolean;
  promoteRecord?: PromoteRecord;
  unitChanges: UnitChange[];
  error?: UpdaterError;
  stderrTail?: string;
  rollbackDetail?: string;
}
