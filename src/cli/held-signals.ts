/**
 * SIGHUP, SIGTERM and SIGINT, held from the program's first line (main.ts)
 * until the command listens for them. Node starts with their default action,
 * which ends the process, and `run` can listen only once its configuration
 * is loaded, about half a second later: a `systemctl reload` in that window
 * ended the daemon for good, since systemd counts a death by SIGHUP as a
 * clean exit. A signal that arrives before anyone listens is delivered to
 * the first listener for it (several of one kind count once).
 *
 * Only `run` and `update` hold signals: they are the commands that stop
 * cleanly (an update gives up before rotation, or finishes after it). Every
 * other command keeps Node's defaults, so Ctrl-C ends a `status` at once.
 * It imports nothing at run time: no module is loaded before the handlers are in place.
 */
import type { SignalSource } from "../daemon/run.js"; // a type: erased, nothing is loaded

type HeldSignal = "SIGHUP" | "SIGTERM" | "SIGINT";
type Listener = () => void;

const HELD: readonly HeldSignal[] = ["SIGHUP", "SIGTERM", "SIGINT"];
const HOLDING_COMMANDS: readonly string[] = ["run", "update"];

const pending = new Set<HeldSignal>();
const listeners = new Map<HeldSignal, Set<Listener>>();
let holding = false;

/** Installs the process's handlers for `command` if it is one that handles signals. */
export function holdSignals(command: string | undefined): void {
  if (holding || command === undefined || !HOLDING_COMMANDS.includes(command)) return;
  holding = true;
  for (const name of HELD) process.on(name, () => deliver(name));
}

function deliver(name: HeldSignal): void {
  const current = listeners.get(name);
  if (!current || current.size === 0) {
    pending.add(name);
    return;
  }
  for (const listener of [...current]) listener();
}

/** The held signals, for the command to listen on instead of `process`. */
export const heldSignals: SignalSource = {
  on(name, listener) {
    const current = listeners.get(name) ?? new Set<Listener>();
    current.add(listener);
    listeners.set(name, current);
    // after the caller has attached all its listeners (it attaches them one after another)
    if (pending.delete(name)) setImmediate(listener);
  },
  off(name, listener) {
    listeners.get(name)?.delete(listener);
  },
};
