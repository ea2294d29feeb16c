/**
 * The pino logger. Keys are constant across the code base (step, ms, sha,
 * version, url, code) so operators can query them; messages are sentences.
 * Private keys, certificates and manifest bodies never reach a log line:
 * the paths below are censored even if a caller passes them by mistake.
 */
import { createRequire } from "node:module";
import { type DestinationStream, type Logger, pino } from "pino";
import type { PrettyOptions, PrettyStream } from "pino-pretty";

/** pino-pretty (29 modules) only for a person at a terminal: the journal's JSON lines do without it. */
const pretty = (options: PrettyOptions): PrettyStream =>
  (createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty").build)(options);

export type { Logger };

export const REDACT_PATHS = [
  "key",
  "cert",
  "ca",
  "*.key",
  "*.cert",
  "*.ca",
  "secretKey",
  "manifest",
  "body",
  "signature",
];

/** JSON lines for the journal and log shippers; one readable line per event for a person at a terminal. */
export type LogFormat = "json" | "pretty";

/**
 * Pretty when the logs go to a terminal, JSON otherwise (under systemd stdout
 * is the journal's socket, never a TTY). `override` comes from
 * $DECNET_UPDATER_LOG_FORMAT for the odd case either way.
 */
export function logFormatFor(
  destination: NodeJS.WritableStream,
  override: string | undefined,
): LogFormat {
  if (override === "json" || override === "pretty") return override;
  return (destination as { isTTY?: boolean }).isTTY === true ? "pretty" : "json";
}

export function createLogger(
  level: string,
  destination: DestinationStream | NodeJS.WritableStream,
  format: LogFormat = "json",
  /** Pretty only: ANSI colours on a terminal unless $NO_COLOR is set (the caller reads the environment). */
  color = true,
): Logger {
  // pino-pretty as a synchronous stream in this thread, not a transport
  // worker: a CLI that exits right after its last line must not lose it.
  const target =
    format === "pretty"
      ? pretty({
          destination: destination as NodeJS.WritableStream,
          sync: true,
          singleLine: true,
          ignore: "pid,hostname,name",
          translateTime: "SYS:yyyy-mm-dd HH:MM:ss",
          colorize: color && (destination as { isTTY?: boolean }).isTTY === true,
        })
      : destination;
  return pino(
    {
      level,
      base: { name: "decnet-updater" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    target as DestinationStream,
  );
}
