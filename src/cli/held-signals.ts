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
 * It imports nothing at run time, and main.ts calls it before any command's
 * code is loaded (what main.js runs first is its own few small modules).
 */
import type { SignalSource } from "../daemon/run.js"; // a type: erased, nothing is loaded

type HeldSignal = "SIGHUP" | "SIGTERM" | "SIGINT";
type Listener = () => void;

const HELD: readonly HeldSignal[] = ["SIGHUP", "SIGTERM", "SIGINT"];
const HOLDING_COMMANDS: readonly string[] = ["run", "update"];

interface Held {
  holding: boolean;
  pending: Set<HeldSignal>;
  listeners: Map<HeldSignal, Set<Listener>>;
}

/**
 * One state per process, not per copy of this module: the bundle's main.js
 * holds the signals and `update`'s own bundle (dist/src/cli/fast/) listens,
 * each with its copy of this file (scripts/bundle.ts).
 */
const STATE = Symbol.for("decnet-updater.held-signals");

function held(): Held {
  const owner = process as unknown as Record<symbol, Held | undefined>;
  owner[STATE] ??= { holding: false, pending: new Set(), listeners: new Map() };
  return owner[STATE];
}

/** Installs the process's handlers for `command` if it is one that handles signals. */
export function holdSignals(command: string | undefined): void {
  const state = held();
  if (state.holding || command === undefined || !HOLDING_COMMANDS.includes(command)) return;
  state.holding = true;
  for (const name of HELD) process.on(name, () => deliver(name));
}

function deliver(name: HeldSignal): void {
  const { listeners, pending } = held();
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
    const { listeners, pending } = held();
    const current = listeners.get(name) ?? new Set<Listener>();
    current.add(listener);
    listeners.set(name, current);
    // after the caller has attached all its listeners (it attaches them one after another)
    if (pending.delete(name)) setImmediate(listener);
  },
  off(name, listener) {
    held().listeners.get(name)?.delete(listener);
  },
};
