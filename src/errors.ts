/**
 * One error type for everything the agent refuses or fails at.
 *
 * The `code` is stable and is what the CLI maps to an exit code and what a
 * report carries; never match on `message`, which is written for people and
 * may change. `cause` keeps the underlying error (TLS, fs, child process) for
 * logs without leaking it into the one-line message.
 */
export type ErrorCode =
  | "E_USAGE"
  | "E_CONFIG"
  | "E_KEY"
  | "E_SIGNATURE"
  | "E_MANIFEST"
  | "E_EXPIRED"
  | "E_SERIAL"
  | "E_PIN"
  | "E_STATE"
  | "E_TLS_SERVER"
  | "E_TLS_CLIENT"
  | "E_TIMEOUT"
  | "E_HTTP_STATUS"
  | "E_TOO_LARGE"
  | "E_REDIRECT"
  | "E_NETWORK"
  | "E_PUBLISH"
  | "E_DIGEST"
  | "E_ARCHIVE"
  | "E_DISK"
  | "E_INSTALL"
  | "E_SMOKE"
  | "E_UNITS"
  | "E_RESTART"
  | "E_PROBE"
  | "E_ROLLBACK"
  | "E_NO_PREV"
  | "E_LOCKED"
  | "E_CLOCK"
  | "E_UNSAFE_PATH"
  | "E_IO"
  /** The master's report store cannot be read or written (issue 18). */
  | "E_STORE"
  /** `rollout` refused: too few attempts, or too many failures (issue 18). */
  | "E_ROLLOUT"
  /** A cycle cut short by a stop request or the system's shutdown (exit 75: the next run finishes it). */
  | "E_STOPPED"
  /** Not thrown: what a failure that is no UpdaterError (a bug) is called in --json and logs. */
  | "E_INTERNAL";

/** The stable code of any thrown value: its own, or E_INTERNAL. */
export function codeOf(error: unknown): ErrorCode {
  return error instanceof UpdaterError ? error.code : "E_INTERNAL";
}

/**
 * Marks every UpdaterError, from whichever copy of this module made it: the
 * bundled program (scripts/bundle.ts) has its own copy, and the master's
 * modules, loaded beside the bundle from dist/, import tsc's. A class
 * checked by identity would call the other copy's errors E_INTERNAL.
 */
const BRAND = Symbol.for("decnet-updater.UpdaterError");

export class UpdaterError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UpdaterError";
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // a subclass (CommandFailed, ...) is checked as classes are: only UpdaterError goes by the brand
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class checked against, maybe a subclass
    if (this !== UpdaterError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

export function isUpdaterError(value: unknown): value is UpdaterError {
  return value instanceof UpdaterError;
}

/** The message of any thrown value, folded onto one line for logs and reports. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** What an operator reads for the local file-system errors worth naming. */
const FS_ERROR_TEXT: Record<string, string> = {
  ENOSPC: "disk full",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "I/O error",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EMFILE: "too many open files",
};

/** Errors of the local file system, as opposed to the network (a download writes to disk too). */
export function isLocalFsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  return code in FS_ERROR_TEXT;
}

/** Wraps a file-system failure: ENOSPC and EDQUOT become E_DISK, the rest E_IO. */
export function fsError(error: unknown, what: string): UpdaterError {
  if (error instanceof UpdaterError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const disk = code === "ENOSPC" || code === "EDQUOT";
  const text = FS_ERROR_TEXT[code];
  return new UpdaterError(
    disk ? "E_DISK" : "E_IO",
    `${what}: ${code || oneLine(error)}${text ? ` (${text})` : ""}`,
    {
      cause: error,
    },
  );
}
