/**
 * The systemd side of restarts. systemctl is found on the PATH given by the
 * composition root (tests put a fixture `systemctl` first on it).
 */
import { access, constants } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";

export async function findOnPath(
  name: string,
  pathVariable: string | undefined,
): Promise<string | null> {
  for (const dir of (pathVariable ?? "").split(delimiter)) {
    // a relative entry (or an empty one, the current folder) would let the folder root runs
    // in decide which systemctl it runs
    if (!isAbsolute(dir)) continue;
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

/**
 * Whether systemd is shutting down (poweroff, reboot): it refuses to start
 * units then ("Transaction ... is destructive"), so a failed restart or probe
 * says nothing about the release.
 */
export async function systemShuttingDown(systemctl: Systemctl): Promise<boolean> {
  const result = await systemctl.run(["is-system-running"]);
  return result.stdout === "stopping";
}

/**
 * A unit's state in one phrase for an error line: "active", "failed
 * (exit-code)", "failed (exit-code, start-limit-hit after 5 restarts)".
 *
 * systemd keeps the first failure as `Result` when a crash loop then trips
 * the start limit (service_enter_dead sets it only over "success"), and no
 * property says the limit was hit; the journal's "Start request repeated
 * too quickly" does. A failed unit whose automatic restarts reached
 * `StartLimitBurst` is the same fact without reading the journal: the
 * restart that would have come next was the one refused.
 */
export async function unitState(systemctl: Systemctl, unit: string): Promise<string> {
  const result = await systemctl.run([
    "show",
    unit,
    "--property=LoadState,ActiveState,Result,NRestarts,StartLimitBurst",
  ]);
  const fields = new Map(
    result.stdout.split("\n").map((line) => {
      const eq = line.indexOf("=");
      return [line.slice(0, eq), line.slice(eq + 1)] as const;
    }),
  );
  if (fields.get("LoadState") === "not-found") return "not found";
  const active = fields.get("ActiveState") || "unknown";
  const outcome = fields.get("Result");
  const restarts = Number(fields.get("NRestarts"));
  const burst = Number(fields.get("StartLimitBurst"));
  const why = [
    outcome && outcome !== "success" ? outcome : null,
    active === "failed" && burst > 0 && restarts >= burst
      ? `start-limit-hit after ${restarts} restarts`
      : null,
  ].filter((part) => part !== null);
  return why.length > 0 ? `${active} (${why.join(", ")})` : active;
}
