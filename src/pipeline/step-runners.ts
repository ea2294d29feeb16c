/**
 * One function per step of the transition table. Each does its step's work
 * on the context, records what it changed for a rollback, and throws an
 * UpdaterError on failure; the runner turns that into the "fail" event.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { UpdaterError } from "../errors.js";
import { exists } from "../fs/exists.js";
import { readLinkOrNull } from "../fs/symlink.js";
import { writeReleaseFile } from "../layout/release-file.js";
import type { PipelineDeps, UpdateContext } from "./context.js";
import { encodeUnitChanges, type InflightPhase, saveInflight } from "./inflight.js";
import { daemonReload, probe, restart } from "./restart-and-probe.js";
import { rollbackUpdate } from "./rollback.js";
import { downloadRelease, verifyDownload } from "./steps/download.js";
import { extractRelease } from "./steps/extract.js";
import {
  CommandFailed,
  type InstallInput,
  installRelease,
  openVenv,
  smokeTest,
} from "./steps/install.js";
import { adoptLegacyVenv, promote } from "./steps/promote.js";
import { rotateSlots } from "./steps/slots.js";
import { planUnits, previewUnitChanges, syncUnits } from "./steps/units.js";
import type { StepName } from "./transitions.js";

type StepRunner = (ctx: UpdateContext, deps: PipelineDeps) => Promise<void>;

/** Persists how far the live part got; each phase is written before its first live change. */
export async function persistInflight(ctx: UpdateContext, phase: InflightPhase): Promise<void> {
  await saveInflight(ctx.state.root, {
    schema: 1,
    report_id: ctx.reportId,
    started_at: ctx.startedAt,
    manifest_serial: ctx.manifestSerial,
    from: ctx.from,
    target: { sha: ctx.target.sha, version: ctx.target.version },
    venv: ctx.venvRelative,
    had_active: ctx.hadActive,
    phase,
    promote: ctx.promoteRecord ?? null,
    unit_changes: encodeUnitChanges(ctx.unitChanges),
    steps: ctx.steps,
  });
}

function installInput(ctx: UpdateContext, deps: PipelineDeps): InstallInput {
  return {
    ...(deps.stop ? { stop: deps.stop } : {}),
    python: ctx.config.install.python,
    command: ctx.config.install.command,
    smoke: ctx.config.install.smoke,
    timeoutS: ctx.config.install.timeout_s,
    timeoutMs: ctx.config.install.timeout_ms,
    seed: ctx.state.venvSeed,
    now: deps.now,
    placeholders: {
      venv: join(ctx.install.root, ctx.venvRelative),
      release: ctx.install.staging,
      install_dir: ctx.install.root,
    },
  };
}

async function withStderr<T>(ctx: UpdateContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
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
      timeoutMs: ctx.config.feed.timeout_ms,
      ...(deps.stop ? { stop: deps.stop } : {}),
      log: deps.log,
      monotonicMs: deps.monotonicMs,
    });
    ctx.downloaded = result;
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

  async extract(ctx, _deps) {
    await rm(ctx.install.staging, { recursive: true, force: true });
    await extractRelease(ctx.tarball as string, ctx.install.staging, {
      maxEntries: ctx.config.limits.max_entries,
      maxUnpackedBytes: ctx.config.limits.max_unpacked_bytes,
    });
    // Refuse a release that ships a unit it may not install before anything live changes.
    ctx.units = await planUnits(ctx.install.staging, ctx.config.units.allow);
  },

  async install(ctx, deps) {
    const input = installInput(ctx, deps);
    const done = await withStderr(ctx, () => installRelease(input));
    if (done.seedRefused !== null)
      deps.log.warn(
        { step: "install", path: input.seed },
        `The venv seed was refused (${done.seedRefused}); the venv got its pip from ensurepip, and the next install builds a new seed.`,
      );
    deps.log.info(
      {
        step: "install",
        pip: done.pip,
        venv_ms: done.venvMs,
        seed_built_ms: done.seedBuiltMs,
        command_ms: done.commandMs,
      },
      `Created the venv in ${done.venvMs} ms (pip from ${done.pip === "seed" ? "the seed" : "ensurepip"}${done.seedBuiltMs > 0 ? `, the seed built first in ${done.seedBuiltMs} ms` : ""}); install.command took ${done.commandMs} ms.`,
    );
  },

  async smoke(ctx, deps) {
    await withStderr(ctx, () => smokeTest(installInput(ctx, deps)));
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
      update_id: ctx.reportId,
    });
    // The venv was 0700 while it was built; it goes live with the slot.
    await openVenv(join(ctx.install.root, ctx.venvRelative));
    // The in-flight record goes down before anything live moves. Do not reorder.
    ctx.hadActive = await exists(ctx.install.active);
    await persistInflight(ctx, "rotating");
    // Marked first: a rotation that fails half way is undone by the rollback step.
    ctx.rotated = true;
    await rotateSlots(ctx.install, () => deps.failpoint("mid-rotate"));
    await persistInflight(ctx, "rotated");
  },

  async promote(ctx, _deps) {
    await adoptLegacyVenv(ctx.install, ctx.from?.sha ?? null);
    // What `venv` pointed at is on disk before it flips, so a crash right after can undo it.
    ctx.promoteRecord = { venvBefore: await readLinkOrNull(ctx.install.venvLink) };
    await persistInflight(ctx, "rotated");
    ctx.promoteRecord = await promote(
      ctx.install,
      ctx.venvRelative,
      ctx.config.install.path_symlink,
    );
    await persistInflight(ctx, "promoted");
  },

  async units(ctx, deps) {
    // The bytes to be replaced are on disk before any unit is written.
    ctx.unitChanges = await previewUnitChanges(ctx.units, ctx.config.units.dir);
    await persistInflight(ctx, "units");
    ctx.unitChanges = await syncUnits(ctx.units, ctx.config.units.dir);
    if (ctx.unitChanges.length > 0) await daemonReload(deps);
  },

  async restart(ctx, deps) {
    await persistInflight(ctx, "restarted");
    await restart(ctx.config, ctx.install, deps);
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

  async rollback(ctx, deps) {
    await persistInflight(ctx, "rolling_back");
    await rollbackUpdate(ctx, deps);
  },
};
