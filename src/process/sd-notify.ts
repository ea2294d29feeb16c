/**
 * Readiness for systemd's Type=notify: the daemon says READY=1 once its
 * signal handlers are in place, so `systemctl start` (and a reload queued
 * behind it) waits until a SIGHUP can no longer end it.
 *
 * Through `systemd-notify --ready` rather than by hand: the message is a
 * datagram on the AF_UNIX socket in $NOTIFY_SOCKET, and Node has no
 * datagram sockets of that family. systemd-notify (without --no-block) waits
 * until PID 1 has processed the message, so the message is not lost when it
 * exits; it is sent from the child's own pid (the unit is NotifyAccess=all:
 * without CAP_SYS_ADMIN it cannot speak for its parent).
 */
import { findOnPath } from "./systemctl.js";

export interface NotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  PATH?: string | undefined;
}

/** Sends READY=1 when started by systemd as Type=notify; resolves to why it could not, or null. */
export async function notifyReady(env: NotifyEnv, timeoutMs = 10_000): Promise<string | null> {
  if (!env.NOTIFY_SOCKET) return null;
  const bin = await findOnPath("systemd-notify", env.PATH);
  if (!bin) return "systemd-notify is not on PATH";
  const { execa } = await import("execa");
  const result = await execa(bin, ["--ready"], {
    reject: false,
    timeout: timeoutMs,
    stdin: "ignore",
    env: { NOTIFY_SOCKET: env.NOTIFY_SOCKET },
  });
  if (!result.failed) return null;
  return `systemd-notify --ready failed: ${String(result.stderr ?? "").trim() || `exit ${result.exitCode}`}`;
}
