/**
 * Preflight (issue 9): what must hold before anything live changes, checked
 * after the gates and before the download. A failure here is the host's
 * environment, never the release's fault: the cycle fails with E_DISK,
 * E_TLS_CLIENT or E_CLOCK, the release is retried later and never marked.
 *
 * - free disk for the download (unless the verified tarball is already there)
 *   and for the unpacked release and its venv;
 * - the client certificate and the CA readable, valid, and not expiring within
 *   7 days (that is a warning, reported to the master);
 * - this host's clock against the master's Date header.
 */
import { statfs } from "node:fs/promises";
import type { Config } from "../config/types.js";
import { UpdaterError } from "../errors.js";
import type { Release } from "../feed/manifest.js";
import { exists } from "../fs/exists.js";
import { atNearestExisting } from "../fs/nearest.js";
import {
  type CertificateFinding,
  certificateFindings,
  certificateWarnings,
} from "../host/certificates.js";
import { tarballPath } from "../pipeline/steps/download.js";

/** More skew than this and expiry checks (manifest, TLS) cannot be trusted. */
export const MAX_CLOCK_SKEW_S = 300;
/** The unpacked release from the tarball's size: generous, as wheels unpack large; plus limits.install_reserve_bytes for the venv. */
export const INSTALL_SPACE_FACTOR = 4;

export interface DiskNeed {
  path: string;
  free_bytes: number;
  needed_bytes: number;
}

export interface Preflight {
  download: DiskNeed;
  install: DiskNeed;
  certificates: CertificateFinding[];
  clock: { server_date: string | null; skew_s: number | null };
  /** The first failure, one line; null when everything holds. */
  failure: UpdaterError | null;
  warnings: string[];
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Free bytes where `path` would live: the nearest folder that exists. */
async function freeBytes(path: string): Promise<number> {
  const { value } = await atNearestExisting(path, async (dir) => {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  });
  return value;
}

export async function runPreflight(input: {
  config: Config;
  target: Release;
  downloadsDir: string;
  now: Date;
  serverDate: string | null;
  receivedAt: Date;
}): Promise<Preflight> {
  const { config, target } = input;
  const cached = await exists(tarballPath(input.downloadsDir, target.sha256));
  const download: DiskNeed = {
    path: input.downloadsDir,
    free_bytes: await freeBytes(input.downloadsDir),
    needed_bytes: cached ? 0 : target.size,
  };
  const install: DiskNeed = {
    path: config.install_dir,
    free_bytes: await freeBytes(config.install_dir),
    needed_bytes: target.size * INSTALL_SPACE_FACTOR + config.limits.install_reserve_bytes,
  };
  const certificates = await certificateFindings(config, input.now);
  const serverMs = input.serverDate ? Date.parse(input.serverDate) : Number.NaN;
  const skew = Number.isNaN(serverMs)
    ? null
    : Math.round((input.receivedAt.getTime() - serverMs) / 1000);
  const failures: UpdaterError[] = [];
  const label = `${target.version} (${mib(target.size)})`;
  for (const [need, what] of [
    [download, `the download of ${label}`],
    [install, `unpacking ${label} and its venv`],
  ] as const) {
    if (need.free_bytes < need.needed_bytes)
      failures.push(
        new UpdaterError(
          "E_DISK",
          `preflight: ${need.path} has ${mib(need.free_bytes)} free, ${what} needs ${mib(need.needed_bytes)}`,
        ),
      );
  }
  for (const finding of certificates)
    if (finding.problem)
      failures.push(new UpdaterError("E_TLS_CLIENT", `preflight: ${finding.problem}`));
  if (skew !== null && Math.abs(skew) > MAX_CLOCK_SKEW_S)
    failures.push(
      new UpdaterError(
        "E_CLOCK",
        `preflight: this host's clock is ${Math.abs(skew)} s ${skew > 0 ? "ahead of" : "behind"} the master's (Date: ${input.serverDate}); more than ${MAX_CLOCK_SKEW_S} s, fix its time sync`,
      ),
    );
  return {
    download,
    install,
    certificates,
    clock: { server_date: input.serverDate, skew_s: skew },
    failure: failures[0] ?? null,
    warnings: certificateWarnings(certificates),
  };
}
