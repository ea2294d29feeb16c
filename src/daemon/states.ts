/**
 * The daemon as explicit states and one pure function from (state, event) to
 * the next state and what to do (issue 16). run.ts only carries the actions
 * out; every rule of when to wait, run, stop or restart is here, tested
 * without cron or timers (test/daemon/states.test.ts).
 *
 *   idle ──slot──> waiting ──phase over──> running ──done──> idle
 *   idle ──start now──────────────────────> running
 *   any ──stop──> stopped (running: after the cycle, "then stop")
 *   running ──done, our slot changed──> stopped (99: the new release starts)
 */

export type DaemonState =
  /** Between slots. */
  | { name: "idle" }
  /** After a cron slot, waiting this host's phase into the splay. */
  | { name: "waiting" }
  /** A cycle runs; `after` is what happens when it ends. */
  | { name: "running"; after: "go_on" | "stop" }
  | { name: "stopped"; exitCode: number };

export type DaemonEvent =
  /** A cron slot came (node-cron). */
  | { type: "slot" }
  /** The phase wait ran out. */
  | { type: "phase_over" }
  /** Run a cycle now: run_on_start, or a release on trial that must commit. */
  | { type: "start_now" }
  /** The cycle ended; `slotChanged`: the updater's own active release is another one now. */
  | { type: "cycle_done"; slotChanged: boolean }
  /** SIGTERM or SIGINT. */
  | { type: "stop" }
  /** SIGHUP with a configuration that validated. */
  | { type: "reload" };

export type DaemonAction =
  | "wait_phase"
  | "cancel_wait"
  | "run_cycle"
  | "stop_cron"
  | "reschedule"
  | "publish_info";

/** `run`'s exit status when a new updater release is to start in its place. */
export const EXIT_RESTART = 99;

export interface Transition {
  state: DaemonState;
  actions: DaemonAction[];
}

const stay = (state: DaemonState): Transition => ({ state, actions: [] });

export function nextState(state: DaemonState, event: DaemonEvent): Transition {
  if (state.name === "stopped") return stay(state);
  switch (event.type) {
    case "slot":
      return state.name === "idle"
        ? { state: { name: "waiting" }, actions: ["wait_phase"] }
        : stay(state);
    case "phase_over":
      return state.name === "waiting"
        ? { state: { name: "running", after: "go_on" }, actions: ["run_cycle"] }
        : stay(state);
    case "start_now":
      return state.name === "idle"
        ? { state: { name: "running", after: "go_on" }, actions: ["run_cycle"] }
        : stay(state);
    case "cycle_done":
      if (state.name !== "running") return stay(state);
      if (state.after === "stop")
        return { state: { name: "stopped", exitCode: 0 }, actions: ["publish_info"] };
      // The process must not load another module from a slot that now holds other code.
      if (event.slotChanged)
        return {
          state: { name: "stopped", exitCode: EXIT_RESTART },
          actions: ["stop_cron", "publish_info"],
        };
      return { state: { name: "idle" }, actions: ["publish_info"] };
    case "stop":
      if (state.name === "running")
        return { state: { name: "running", after: "stop" }, actions: ["stop_cron"] };
      return {
        state: { name: "stopped", exitCode: 0 },
        actions: state.name === "waiting" ? ["cancel_wait", "stop_cron"] : ["stop_cron"],
      };
    case "reload":
      // A reload during the wait drops that slot's check; the new schedule takes over.
      if (state.name === "waiting")
        return { state: { name: "idle" }, actions: ["cancel_wait", "reschedule", "publish_info"] };
      if (state.name === "running" && state.after === "stop") return stay(state);
      return { state, actions: ["reschedule", "publish_info"] };
  }
}
