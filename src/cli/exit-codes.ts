/**
 * The exit-code table of SPEC section 7. Codes come from the error's stable
 * `code` or the command's outcome, never from message text.
 */
import { isUpdaterError } from "../errors.js";

export const EXIT = {
  ok: 0,
  error: 1,
  rolledBack: 2,
  rollbackFailed: 3,
  usage: 64,
  locked: 75,
  updateAvailable: 100,
} as const;

export function exitCodeForError(error: unknown): number {
  if (isUpdaterError(error) && error.code === "E_USAGE") return EXIT.usage;
  if (isUpdaterError(error) && error.code === "E_LOCKED") return EXIT.locked;
  // a stop or a shutdown cut the run short with nothing lost: try again later, as for a lock
  if (isUpdaterError(error) && error.code === "E_STOPPED") return EXIT.locked;
  return EXIT.error;
}
