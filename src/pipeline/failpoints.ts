/**
 * DECNET_UPDATER_FAILPOINT=<name>: the process SIGKILLs itself when it
 * reaches that point, so tests can prove the install dir is consistent after
 * a crash anywhere (SPEC section 9). Read once by the composition root.
 */
export const FAILPOINTS = [
  "after-download",
  "after-extract",
  "after-install",
  "mid-rotate",
  "after-rotate",
  "after-promote",
  "after-units",
  "after-restart",
  "mid-rollback",
  "after-rollback",
  "before-report",
] as const;

export type Failpoint = (typeof FAILPOINTS)[number];

export function failpointFrom(value: string | undefined): (name: Failpoint) => void {
  if (!value) return () => undefined;
  return (name) => {
    if (name === value) process.kill(process.pid, "SIGKILL");
  };
}
