/**
 * The stock `minisign` binary for cross-checks: from PATH (CI installs the
 * Debian package), else fetched once with `apt-get download` and unpacked
 * with `dpkg -x` into .cache/ beside the repo. Undefined when neither works;
 * the caller then skips with one line saying what to install.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

export interface MinisignTool {
  bin: string;
  env: NodeJS.ProcessEnv;
}

const CACHE = resolve(import.meta.dirname, "../../.cache/minisign");

function onPath(): string | undefined {
  try {
    return (
      execFileSync("sh", ["-c", "command -v minisign"], { encoding: "utf8" }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

function fromCache(): MinisignTool | undefined {
  const bin = join(CACHE, "root/usr/bin/minisign");
  if (!existsSync(bin)) return undefined;
  return {
    bin,
    env: { ...process.env, LD_LIBRARY_PATH: join(CACHE, "root/usr/lib/x86_64-linux-gnu") },
  };
}

export function findMinisign(): MinisignTool | undefined {
  const bin = onPath();
  if (bin) return { bin, env: process.env };
  const cached = fromCache();
  if (cached) return cached;
  try {
    mkdirSync(join(CACHE, "root"), { recursive: true });
    execFileSync("apt-get", ["download", "minisign", "libsodium23"], {
      cwd: CACHE,
      stdio: "ignore",
    });
    for (const deb of readdirSync(CACHE).filter((name) => name.endsWith(".deb"))) {
      execFileSync("dpkg", ["-x", join(CACHE, deb), join(CACHE, "root")], { stdio: "ignore" });
    }
  } catch {
    return undefined;
  }
  return fromCache();
}

export const MINISIGN_SKIP = "stock minisign not available: apt-get install minisign";
