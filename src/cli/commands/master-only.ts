/**
 * The master's commands (receive, fleet, rollout) load src/master/ only
 * when they run, and a host's release does not carry it (issue 18): on a
 * host they say so in one line instead of a stack trace.
 */
import { UpdaterError } from "../../errors.js";

export const RECEIVER_CONFIG_OPTION = [
  "--config <file>",
  "the receiver's configuration (default $DECNET_UPDATER_RECEIVER_CONFIG or /etc/decnet/receiver.toml)",
] as const;

export function receiverConfigPath(flag: string | undefined): string {
  return flag ?? process.env.DECNET_UPDATER_RECEIVER_CONFIG ?? "/etc/decnet/receiver.toml";
}

/** `import()` of a master module, with the one-line refusal on a host's release. */
export async function loadMaster<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND")
      throw new UpdaterError(
        "E_USAGE",
        "this is a host's release of decnet-updater, without the master's part: run receive, fleet and rollout from a checkout on the master (npm ci && npm run build)",
      );
    throw error;
  }
}
