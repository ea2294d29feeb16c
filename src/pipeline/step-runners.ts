/**
 * One function per step of the transition table. Each does its step's work
 * on the context, records what it changed for a rollback, and throws an
 * UpdaterError on failure; the runner turns that into the "fail" event.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { UpdaterError } from "../errors.js";
import { writeReleaseFile } from "../layout/release-file.js";
import type { PipelineDeps, UpdateContext } from "./context.js";
import { daemonReload, probe, restart } from "./restart-and-probe.js";
import { rollbackUpdate } from "./rollback.js";
import { downloadRelease, verifyDownload } from "./steps/download.js";
import { extractRelease } from "./steps/extract.js";
import { CommandFailed, type InstallInput, installRelease, smokeTest } from "./steps/install.js";
import { adoptLegacyVenv, promote } from "./steps/promote.js";
import { rotateSlots } from "./steps/slots.js";
import { planUnits, syncUnits } from "./steps/units.js";
import type { StepName } from "./transitions.js";

type StepRunner = (ctx: UpdateContext, deps: PipelineDeps) => Promise<void>;

function installInput(ctx: UpdateContext): InstallInput {
  return {
    python: ctx.config.install.python,
    command: ctx.config.install.command,
    smoke: ctx.config.install.smoke,
    timeoutS: ctx.config.install.timeout_s,
    placeholders: {
      venv: join(ctx.install.root, ctx.venvRelative),
      release: ctx.install.staging,
      install_dir: ctx.install.root,
    },
  };
}

async function withStderr(ctx: UpdateContext, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof CommandFailed) ctx.stderrTail = error.stderrTail;
    throw error;
  }
}

export const STEP_RUNNERS: Record<StepName, StepRunner> = {
  async download(ctx, deps) {
    const result = await downloadRelease({
      client: deps.feedClient,
      url: ctx.tarballUrl,
      release: ctx.target,
      downloadsDir: ctx.state.downloads,
      maxDownloadBytes: ctx.config.limits.max_download_bytes,
      timeoutMs: ctx.config.feed.timeout_s * 1000,
      log: deps.log,
      monotonicMs: deps.monotonicMs,
    });
    ctx.downloaded = result;
    deps.failpoint("after-download");
  },

  async verify(ctx) {
    if (!ctx.downloaded) throw new UpdaterError("E_DIGEST", "nothing was downloaded to verify");
    ctx.tarball = await verifyDownload(
      ctx.downloaded,
      ctx.target,
      ctx.state.downloads,
      ctx.tarballUrl,
    );
  },

  async extract(ctx, deps) {
    await rm(ctx.install.staging, { recursive: true, force: true });
    await extractRelease(ctx.tarball as string, ctx.install.staging, {
      maxEntries: ctx.config.limits.max_entries,
      maxUnpackedBytes: ctx.config.limits.max_unpacked_bytes,
    });
    // Refuse a release that ships a unit it may not install before anything live changes.
    ctx.units = await planUnits(ctx.install.staging, ctx.config.units.allow);
    deps.failpoint("after-extract");
  },

  async install(ctx, deps) {
    await withStderr(ctx, () => installRelease(installInput(ctx)));
    deps.failpoint("after-install");
  },

  async smoke(ctx) {
    await withStderr(ctx, () => smokeTest(installInput(ctx)));
  },

  async rotate(ctx, deps) {
    // The release file goes into staging last: its presence marks a complete slot.
    await writeReleaseFile(ctx.install.staging, {
      sha: ctx.target.sha,
      version: ctx.target.version,
      installed_at: deps.now().toISOString(),
      sha256: ctx.target.sha256,
      manifest_serial: ctx.manifestSerial,
      venv: ctx.venvRelative,
    });
    ctx.hadActive = await rotateSlots(ctx.install, () => {
      ctx.rotated = true;
      deps.failpoint("mid-rotate");
    });
    ctx.rotated = true;
    deps.failpoint("after-rotate");
  },

  async promote(ctx, deps) {
    await adoptLegacyVenv(ctx.install, ctx.from?.sha ?? null);
    ctx.promoteRecord = await promote(
      ctx.install,
      ctx.venvRelative,
      ctx.config.install.path_symlink,
    );
    deps.failpoint("after-promote");
  },

  async units(ctx, deps) {
    ctx.unitChanges = [];
    const changes = await syncUnits(ctx.units, ctx.config.units.dir);
    ctx.unitChanges.push(...changes);
    if (changes.length > 0) await daemonReload(deps);
    deps.failpoint("after-units");
  },

  async restart(ctx, deps) {
    await restart(ctx.config, ctx.install, deps);
    deps.failpoint("after-restart");
  },

  async probe(ctx, deps) {
    const result = await probe(ctx.config, deps, {
      sha: ctx.target.sha,
      version: ctx.target.version,
    });
    if (!result.healthy) throw new UpdaterError("E_PROBE", result.detail);
    deps.log.info(
      { step: "probe", sha: ctx.target.sha, version: ctx.target.version },
      result.detail,
    );
  },

  rollback: rollbackUpdate,
};
