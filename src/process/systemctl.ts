/**
 * The systemd side of restarts. systemctl is found on the PATH given by the
 * composition root (tests put a fixture `systemctl` first on it).
 */
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";

export async function findOnPath(
  name: string,
  pathVariable: string | undefined,
): Promise<string | null> {
  for (const dir of (pathVariable ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return null;
}

export interface Systemctl {
  /** Resolves to the command's outcome; never throws for a non-zero exit. */
  run(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }>;
}

export function systemctlAt(bin: string, timeoutMs = 90_000): Systemctl {
  return {
    async run(args) {
      const { execa } = await import("execa"); // loaded on first use (docs/performance.md)
      const result = await execa(bin, args, { reject: false, timeout: timeoutMs, stdin: "ignore" });
      return {
        ok: !result.failed,
        stdout: String(result.stdout ?? "").trim(),
        stderr: String(result.stderr ?? "").trim(),
      };
    },
  };
}
