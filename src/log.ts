/**
 * The pino logger. Keys are constant across the code base (step, ms, sha,
 * version, url, code) so operators can query them; messages are sentences.
 * Private keys, certificates and manifest bodies never reach a log line:
 * the paths below are censored even if a caller passes them by mistake.
 */
import { type DestinationStream, type Logger, pino } from "pino";

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

export function createLogger(
  level: string,
  destination: DestinationStream | NodeJS.WritableStream,
): Logger {
  return pino(
    {
      level,
      base: { name: "decnet-updater" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as DestinationStream,
  );
}
