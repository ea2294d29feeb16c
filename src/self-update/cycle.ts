/**
 * The updater's own cycle (SPEC section 12): check `self_update.feed_url`,
 * and when it offers a newer updater, install it into the updater's own
 * slots with the agent's download, verification and hardened extraction,
 * put it on trial and flip `current`. The caller then makes way for it
 * (the daemon exits for systemd or re-executes through the launcher).
 *
 * Nothing here restarts anything or runs the new release: the launcher
 * counts its starts and the release commits itself (trial.ts).
 */
import { randomUUID } from "node:crypto";
import { access, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/types.js";
import { fsError, isUpdaterError, oneLine, UpdaterError } from "../errors.js";
import type { Release } from "../feed/manifest.js";
import { semver } from "../feed/semver.js";
import { releaseFileUrl } from "../feed/urls.js";
import { fsyncDir, writeFileAtomic } from "../fs/atomic.js";
import { decide } from "../host/decide.js";
import { type AgentDeps, createFeedClient } from "../host/deps.js";
import { recordCycle } from "../host/record.js";
import { fileReport } from "../host/reports.js";
import { SAYS } from "../host/verdict.js";
import { writeReleaseFile } from "../layout/release-file.js";
import { pathsOf, type SelfPaths, trialStarts } from "../layout/self-paths.js";
import { runMachine } from "../pipeline/machine.js";
import { downloadRelease, verifyDownload } from "../pipeline/steps/download.js";
import { extractRelease } from "../pipeline/steps/extract.js";
import { rotateSlots, undoRotation } from "../pipeline/steps/slots.js";
import { SELF_INSTALL, type SelfInstallStep } from "../pipeline/transitions.js";
import type { ReleaseRef } from "../report/build.js";
import { countBackoff, recordFailure } from "../state/failures.js";
import { loadState, type State } from "../state/store.js";
import { UPDATER_VERSION } from "../version.js";
import { type SelfResult, selfUpdateDisabled } from "./result.js";
import { runningRelease } from "./running.js";
import { commitTrial, type SelfInflight, selfReport, writeSelfInflight } from "./trial.js";

export type { SelfResult, SelfStatus } from "./result.js";

/** The app configuration turned towards the updater's own feed: same identity, its own keys and dir. */
function selfFeedConfig(config: Config, paths: SelfPaths): Config {
  return {
    ...config,
    install_dir: paths.install.root,
    state_dir: paths.state.root,
    feed: {
      ...config.feed,
      url: config.self_update.feed_url as string,
      trusted_keys: config.self_update.trusted_keys,
      component: "decnet-updater",
    },
    // pin.* is about DECNET; the updater always follows its feed's latest.
    pin: { hold: false },
  };
}

export async function runSelfCycle(config: Config, deps: AgentDeps): Promise<SelfResult> {
  const disabled = selfUpdateDisabled(config);
  if (disabled) return disabled;
  const none = { from: null, to: null, restart: false };
  const paths = pathsOf(config);
  const running = await runningRelease(paths, deps.env);
  if (!running.managed) {
    const reason = `not updating itself: ${running.reason}`;
    deps.log.warn({ component: "updater" }, `Self-update: ${reason}.`);
    return { status: "unmanaged", reason, ...none };
  }
  const selfConfig = selfFeedConfig(config, paths);
  const state = await loadState(paths.state.state);
  const startedAt = deps.now();
  let decided: Awaited<ReturnType<typeof decide>>;
  try {
    const fresh = (await trialStarts(paths)) !== null;
    decided = await decide(selfConfig, paths.state, state, deps, false, {
      fresh,
      self: { running: UPDATER_VERSION, newer: (version) => semver.gt(version, UPDATER_VERSION) },
    });
  } catch (error) {
    await record(paths, state, deps.now(), "error", error, state.highest_serial);
    throw error;
  }
  // A verified manifest of the updater's own feed counts for the commit too.
  await commitTrial(config, deps);
  const { verdict, active, manifest } = decided;
  const from: ReleaseRef = { sha: active?.sha ?? "unknown", version: UPDATER_VERSION };
  const to: ReleaseRef = { sha: verdict.target.sha, version: verdict.target.version };
  const { reason } = verdict;
  if (verdict.word !== "update") {
    const status = SAYS[verdict.word].self;
    if (verdict.by?.kind === "backoff") countBackoff(state, to.sha);
    deps.log.info({ component: "updater", status, version: to.version }, `Self-update: ${reason}.`);
    await record(paths, state, deps.now(), status, null, manifest.serial);
    return { status, from, to, reason, restart: false };
  }

  deps.log.info(
    { component: "updater", sha: to.sha, version: to.version, from: UPDATER_VERSION },
    `Updating the updater: ${reason}.`,
  );
  const steps: SelfInflight["steps"] = [{ name: "fetch", ms: decided.fetchMs, ok: true }];
  const inflight: SelfInflight = {
    schema: 1,
    report_id: randomUUID(),
    started_at: startedAt.toISOString(),
    manifest_serial: manifest.serial,
    from,
    to,
    steps,
  };
  try {
    await installSelf(selfConfig, paths, verdict.target, inflight, deps);
  } catch (error) {
    const failure = isUpdaterError(error) ? error : fsError(error, "self-update");
    recordFailure(state, verdict.target, failure, config.retry.max_install_attempts, deps.now());
    await record(paths, state, deps.now(), "failed", failure, manifest.serial);
    deps.log.error(
      { component: "updater", code: failure.code, version: to.version },
      `Self-update failed, nothing changed: ${oneLine(failure)}`,
    );
    await fileReport(
      config,
      deps,
      selfReport(config, inflight, {
        status: "failed",
        error: failure,
        steps: inflight.steps,
        now: deps.now(),
      }),
    );
    return { status: "failed", from, to, reason: oneLine(failure), restart: false };
  }
  await record(paths, state, deps.now(), "installed", null, manifest.serial);
  deps.log.info(
    { component: "updater", version: to.version },
    `Installed updater ${to.version}; it runs on trial from its next start.`,
  );
  return { status: "installed", from, to, reason, restart: true };
}

/** What the updater's install knows as its steps run. */
interface SelfInstall {
  downloaded?: Awaited<ReturnType<typeof downloadRelease>>;
  tarball?: string;
}

/**
 * Download, verify, extract, check, then the flip, as the rows of one table
 * (transitions.ts, SELF_INSTALL) through the one runner: `trial` is written
 * before `current` moves, so the new release never starts uncounted. (If the
 * flip never happens, the old release counts one start and commits itself:
 * harmless.) Throws the failure of the step that failed.
 */
async function installSelf(
  selfConfig: Config,
  paths: SelfPaths,
  target: Release,
  inflight: SelfInflight,
  deps: AgentDeps,
): Promise<void> {
  const url = releaseFileUrl(selfConfig.feed.url, target.url);
  const staging = paths.install.staging;
  const runners: Record<SelfInstallStep, (ctx: SelfInstall) => Promise<void>> = {
    async download(ctx) {
      const client = await createFeedClient(selfConfig);
      try {
        ctx.downloaded = await downloadRelease({
          client,
          url,
          release: target,
          downloadsDir: paths.state.downloads,
          maxDownloadBytes: selfConfig.limits.max_download_bytes,
          timeoutMs: selfConfig.feed.timeout_ms,
          log: deps.log,
          monotonicMs: deps.monotonicMs,
        });
      } finally {
        await client.close();
      }
    },
    async verify(ctx) {
      if (!ctx.downloaded) throw new UpdaterError("E_DIGEST", "nothing was downloaded to verify");
      ctx.tarball = await verifyDownload(ctx.downloaded, target, paths.state.downloads, url);
    },
    async extract(ctx) {
      await rm(staging, { recursive: true, force: true });
      await extractRelease(ctx.tarball as string, staging, {
        maxEntries: selfConfig.limits.max_entries,
        maxUnpackedBytes: selfConfig.limits.max_unpacked_bytes,
      });
      await checkUpdaterRelease(staging, target);
    },
    async rotate() {
      const rotateStarted = deps.monotonicMs();
      await writeReleaseFile(staging, {
        sha: target.sha,
        version: target.version,
        installed_at: deps.now().toISOString(),
        sha256: target.sha256,
        manifest_serial: inflight.manifest_serial ?? 0,
        update_id: inflight.report_id,
      });
      // The record the commit reports from already holds this step: after the flip, this process is done.
      await writeSelfInflight(paths, {
        ...inflight,
        steps: [
          ...inflight.steps,
          { name: "rotate", ms: Math.round(deps.monotonicMs() - rotateStarted), ok: true },
        ],
      });
      await writeFileAtomic(paths.trial, "0\n");
      try {
        await rotateSlots(paths.install);
      } catch (error) {
        await undoRotation(paths.install, inflight.report_id).catch(() => undefined);
        await rm(paths.trial, { force: true });
        await rm(paths.inflight, { force: true });
        throw error;
      }
      await fsyncDir(paths.install.root);
    },
  };
  let failure: UpdaterError | null = null;
  const end = await runMachine(SELF_INSTALL, {
    ctx: {},
    runners,
    steps: inflight.steps,
    deps: { log: deps.log, monotonicMs: deps.monotonicMs, failpoint: () => undefined },
    release: target,
    failed: (_step, error) => {
      failure = error;
      return error;
    },
  });
  if (end === "failed") {
    await rm(staging, { recursive: true, force: true });
    throw failure ?? new UpdaterError("E_IO", "the updater's install failed");
  }
}

/** The archive must be an updater release of the version the signed manifest names. */
async function checkUpdaterRelease(staging: string, target: Release): Promise<void> {
  const where = `updater release ${target.version}`;
  let doc: { name?: unknown; version?: unknown } | null = null;
  try {
    doc = JSON.parse(await readFile(join(staging, "package.json"), "utf8"));
  } catch {
    doc = null;
  }
  if (doc?.name !== "decnet-updater")
    throw new UpdaterError("E_ARCHIVE", `${where}: package.json does not name decnet-updater`);
  if (doc.version !== target.version)
    throw new UpdaterError(
      "E_ARCHIVE",
      `${where}: package.json says version ${JSON.stringify(doc.version)}, the manifest says ${target.version}`,
    );
  for (const path of ["dist/src/cli/main.js", "node_modules"]) {
    await access(join(staging, path)).catch(() => {
      throw new UpdaterError("E_ARCHIVE", `${where}: ${path} is missing`);
    });
  }
}

/**
 * The updater feed's line in its own state.json: every check is its last
 * check; the last result is the last attempt (installed or failed), and only
 * a failure counts (decnet_updater_self_updates_total comes from the reports).
 */
function record(
  paths: SelfPaths,
  state: State,
  now: Date,
  status: string,
  error: unknown,
  serial: number | null,
): Promise<void> {
  return recordCycle(
    paths.state.state,
    state,
    { now, status, error, serial },
    {
      check: true,
      result: status === "installed" || status === "failed",
      metrics: status === "failed",
    },
  );
}
