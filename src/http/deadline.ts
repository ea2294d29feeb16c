/**
 * A whole-request deadline as an AbortSignal, with a `clear` for when the
 * request is done. Not AbortSignal.timeout(): its timer stays armed until it
 * fires even after the request has finished, so a daemon would carry one
 * live timer (and the signal it holds) per request for the whole deadline.
 * The abort reason is the same TimeoutError DOMException that
 * AbortSignal.timeout() gives, so error classification does not change.
 */
export interface Deadline {
  signal: AbortSignal;
  clear(): void;
}

/**
 * `cancel` (a stop request) aborts the deadline's signal too. Not
 * AbortSignal.any(): a long-lived source (the daemon's stop signal) would
 * keep a dependent signal per request; here the listener goes with `clear`.
 */
export function deadline(ms: number, cancel?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new DOMException(`The operation was aborted due to timeout (${ms} ms)`, "TimeoutError"),
      ),
    ms,
  );
  timer.unref(); // a pending deadline must not keep a finished CLI alive
  const onCancel = () => controller.abort(cancel?.reason);
  if (cancel?.aborted) onCancel();
  else cancel?.addEventListener("abort", onCancel, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      cancel?.removeEventListener("abort", onCancel);
    },
  };
}
