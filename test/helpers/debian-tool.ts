/**
 * A Debian tool a test needs (minisign, nginx): from the usual path when the
 * package is installed (CI installs it), else fetched once with
 * `apt-get download` and unpacked with `dpkg -x` into .cache/ beside the
 * repo, so a newcomer's `npm test` needs no root. Undefined when neither
 * works; the caller then skips with one line saying what to install.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

export interface DebianTool {
  bin: string;
  env: NodeJS.ProcessEnv;
}

export interface DebianToolSpec {
  /** Folder name under .cache/. */
  name: string;
  /** Where the installed package puts the binary, e.g. /usr/sbin/nginx. */
  installedPath: string;
  /** Packages to download: the tool's own and any library a bare machine may lack. */
  packages: string[];
}

function cached(spec: DebianToolSpec, cache: string): DebianTool | undefined {
  const bin = join(cache, "root", spec.installedPath);
  if (!existsSync(bin)) return undefined;
  return {
    bin,
    env: { ...process.env, LD_LIBRARY_PATH: join(cache, "root/usr/lib/x86_64-linux-gnu") },
  };
}

export function findDebianTool(spec: DebianToolSpec): DebianTool | undefined {
  if (existsSync(spec.installedPath)) return { bin: spec.installedPath, env: process.env };
  const cache = resolve(import.meta.dirname, "../../.cache", spec.name);
  const hit = cached(spec, cache);
  if (hit) return hit;
  try {
    mkdirSync(join(cache, "root"), { recursive: true });
    execFileSync("apt-get", ["download", ...spec.packages], { cwd: cache, stdio: "ignore" });
    for (const deb of readdirSync(cache).filter((name) => name.endsWith(".deb"))) {
      execFileSync("dpkg", ["-x", join(cache, deb), join(cache, "root")], { stdio: "ignore" });
    }
  } catch {
    return undefined;
  }
  return cached(spec, cache);
}
