/**
 * Every configured path the agent writes, checked at start: under the
 * shipped unit's sandbox (ProtectSystem=strict) a path outside its
 * ReadWritePaths= is read-only, and the write would only fail later, in the
 * middle of an update or, for the metrics file, with a warning nobody reads.
 * Each path that cannot be written is named with its config key in one line.
 */
import { access, constants } from "node:fs/promises";
import { dirname } from "node:path";
import type { Config } from "../config/types.js";
import { atNearestExisting } from "../fs/nearest.js";
import type { Logger } from "../log.js";

export interface UnwritablePath {
  key: string;
  path: string;
  /** Why, in a few words: "read-only file system", "permission denied". */
  why: string;
}

/** Config key -> the folder the agent writes for it (a file's folder, for the file keys). */
function writtenFolders(config: Config): Array<{ key: string; path: string; folder: string }> {
  const folders = [
    { key: "install_dir", path: config.install_dir, folder: config.install_dir },
    { key: "state_dir", path: config.state_dir, folder: config.state_dir },
    { key: "units.dir", path: config.units.dir, folder: config.units.dir },
  ];
  // "" turns the PATH symlink off: there is nothing to write
  if (config.install.path_symlink !== "")
    folders.push({
      key: "install.path_symlink",
      path: config.install.path_symlink,
      folder: dirname(config.install.path_symlink),
    });
  if (config.self_update.enabled)
    folders.push({
      key: "self_update.install_dir",
      path: config.self_update.install_dir,
      folder: config.self_update.install_dir,
    });
  if (config.metrics.textfile)
    folders.push({
      key: "metrics.textfile",
      path: config.metrics.textfile,
      folder: dirname(config.metrics.textfile),
    });
  return folders;
}

const WHY: Record<string, string> = {
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
};

/** Why the folder (or the nearest one above it that exists: the agent creates the rest) cannot be written, or null. */
async function writableOrWhy(folder: string): Promise<string | null> {
  const { dir, value: code } = await atNearestExisting(folder, (at) =>
    access(at, constants.W_OK).then(
      () => null,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") throw error;
        return error.code ?? "error";
      },
    ),
  );
  if (code === null) return null;
  const why = WHY[code] ?? code;
  return dir === folder ? why : `${why} at ${dir}, where it would be created`;
}

export async function unwritablePaths(config: Config): Promise<UnwritablePath[]> {
  const found: UnwritablePath[] = [];
  for (const { key, path, folder } of writtenFolders(config)) {
    const why = await writableOrWhy(folder);
    if (why) found.push({ key, path, why });
  }
  return found;
}

/** Logs one line per configured path the agent cannot write; returns how many. */
export async function warnUnwritable(config: Config, log: Logger): Promise<number> {
  const found = await unwritablePaths(config);
  for (const { key, path, why } of found)
    log.error(
      // not "key": the logger redacts that field (TLS private keys)
      { code: "E_IO", config_key: key, path },
      `${key}: cannot write ${path} (${why}); under systemd, the unit's ReadWritePaths= must include it (systemd/README.md).`,
    );
  return found.length;
}
