/**
 * The daemon's rules as a table (issue 16): each row a state, an event, the
 * next state and the actions, and a walk showing every state reaches an end.
 * No cron, no timers, no process.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type DaemonEvent,
  type DaemonState,
  EXIT_RESTART,
  nextState,
} from "../../src/daemon/states.js";

const idle: DaemonState = { name: "idle" };
const waiting: DaemonState = { name: "waiting" };
const running: DaemonState = { name: "running", after: "go_on" };
const draining: DaemonState = { name: "running", after: "stop" };
const stopped = (exitCode: number): DaemonState => ({ name: "stopped", exitCode });

const ROWS: Array<[DaemonState, DaemonEvent, DaemonState, string[]]> = [
  [idle, { type: "slot" }, waiting, ["wait_phase"]],
  [waiting, { type: "phase_over" }, running, ["run_cycle"]],
  [idle, { type: "start_now" }, running, ["run_cycle"]],
  [running, { type: "cycle_done", slotChanged: false }, idle, ["publish_info"]],
  [
    running,
    { type: "cycle_done", slotChanged: true },
    stopped(EXIT_RESTART),
    ["stop_cron", "publish_info"],
  ],
  [draining, { type: "cycle_done", slotChanged: true }, stopped(0), ["publish_info"]],
  [draining, { type: "cycle_done", slotChanged: false }, stopped(0), ["publish_info"]],
  // a slot that comes while waiting or running is not a second cycle
  [waiting, { type: "slot" }, waiting, []],
  [running, { type: "slot" }, running, []],
  [running, { type: "start_now" }, running, []],
  // stop: at once when idle or waiting, after the cycle when running
  [idle, { type: "stop" }, stopped(0), ["stop_cron"]],
  [waiting, { type: "stop" }, stopped(0), ["cancel_wait", "stop_cron"]],
  [running, { type: "stop" }, draining, ["stop_cron"]],
  // reload: the wait is dropped, the new schedule takes over; a running cycle goes on
  [waiting, { type: "reload" }, idle, ["cancel_wait", "reschedule", "publish_info"]],
  [idle, { type: "reload" }, idle, ["reschedule", "publish_info"]],
  [running, { type: "reload" }, running, ["reschedule", "publish_info"]],
  [draining, { type: "reload" }, draining, []],
  // stopped is final
  [stopped(0), { type: "start_now" }, stopped(0), []],
  [stopped(99), { type: "stop" }, stopped(99), []],
];

for (const [from, event, to, actions] of ROWS) {
  const name = `${JSON.stringify(from)} + ${JSON.stringify(event)} -> ${JSON.stringify(to)}`;
  test(name, () => assert.deepEqual(nextState(from, event), { state: to, actions }));
}

test("from every state a stop, and the end of a running cycle, reach stopped", () => {
  for (const start of [idle, waiting, running, draining]) {
    let state = nextState(start, { type: "stop" }).state;
    if (state.name === "running")
      state = nextState(state, { type: "cycle_done", slotChanged: false }).state;
    assert.equal(state.name, "stopped", JSON.stringify(start));
  }
});
