/**
 * `run`: the daemon. Recovery first (under the lock), then a cycle on
 * `schedule.cron` in `schedule.timezone`, each after this host's fixed
 * offset into the splay (phase.ts), never two at once, plus one at start
 * when `run_on_start` or when this updater release is on trial (it commits
 * in a cycle).
 *
 * SIGTERM/SIGINT: idle, it stops at once; during a cycle, an update that has
 * not rotated yet is abandoned (pip or the download is cut off; nothing is
 * marked, the next start tries again), one that has finishes (commit or
 * rollback), and then it stops. SIGHUP reloads and re-validates the
 * configuration; a bad one is logged and the old one kept. Under systemd
 * (Type=notify) it says READY=1 once it listens for all three.
 * The daemon holds `daemon.lock` for its life (a second `run` exits 75) and
 * the cycle lock only during cycles, so an operator's one-off `update` or
 * `clear` still works between them.
 *
 * When the updater's own active slot changes under it (its self-update, or
 * an operator's `update`), it stops after that cycle and returns
 * EXIT_RESTART, so the new release starts (cli/commands/run.ts): the old
 * process must not load another module from a slot that now holds other code.
 *
 * When to wait, run, stop or restart is decided by states.ts, a pure
 * function of the state and the event; this file carries out its actions
 * (timers, node-cron, the cycle, daemon.json) and turns signals and cron
 * ticks into events, one at a time.
 */
import cron, { type ScheduledTask } from "node-cron";
import { recover } from "../agent/recover.js";
import type { Config } from "../config/types.js";
import { runUpdate } from "../cycle/run-update.js";
import { codeOf, oneLine } from "../errors.js";
import type { AgentDeps } from "../host/deps.js";
import { lockHost } from "../host/trusted-dirs.js";
import { warnUnwritable } from "../host/writable-paths.js";
import { readReleaseFile } from "../layout/release-file.js";
import { pathsOf, trialStarts } from "../layout/self-paths.js";
import { notifyReady } from "../process/sd-notify.js";
import { runningRelease } from "../self-update/running.js";
import { removeDaemonInfo, writeDaemonInfo } from "../state/daemon-info.js";
import { hostPhaseMs, splaySpanMs } from "./phase.js";
import { type DaemonAction, type DaemonEvent, type DaemonState, nextState } from "./states.js";

/** Where the daemon's signals come from (cli/held-signals.ts in the program; an emitter in tests). */
export interface SignalSource {
  on(name: "SIGHUP" | "SIGTERM" | "SIGINT", listener: () => void): unknown;
  off(name: "SIGHUP" | "SIGTERM" | "SIGINT", listener: () => void): unknown;
}

export interface DaemonInput {
  config: Config;
  /** Loads the configuration again (SIGHUP). */
  reload: () => Promise<Config>;
  deps: AgentDeps;
  /** Where the signals come from (the held signals of cli/held-signals.ts; a test may pass an emitter). */
  signals: SignalSource;
}

export { EXIT_RESTART } from "./states.js";

/** The sha of the updater's active slot when this program is that slot's, else null (nothing to watch). */
async function ownSlotSha(config: Config, deps: AgentDeps): Promise<string | null> {
  const paths = pathsOf(config);
  if (!(await runningRelease(paths, deps.env)).managed) return null;
  return (await readReleaseFile(paths.install.active))?.sha ?? "unknown";
}

export async function runDaemon(input: DaemonInput): Promise<number> {
  // Aborted by SIGTERM/SIGINT: the cycle in progress gives up if it has not rotated yet.
  const stopping = new AbortController();
  const deps: AgentDeps = { ...input.deps, stop: stopping.signal };
  let config = input.config;
  const daemonLock = await lockHost(config, "daemon.lock");
  const startedAs = await ownSlotSha(config, deps);
  let task: ScheduledTask | null = null;
  /** This host's wait after each cron slot, ms (set by schedule()). */
  let phaseMs = 0;
  let phaseTimer: NodeJS.Timeout | null = null;
  let state: DaemonState = { name: "idle" };
  /** What started the cycle the next "run_cycle" runs, for its log line. */
  let trigger = "schedule";
  /** Resolves node-cron's callback once the slot's wait and cycle are over (its noOverlap counts on it). */
  let slotOver: (() => void) | null = null;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const startedAt = deps.now().toISOString();
  /** The holder last logged for a skipped cycle: an operator's long `update` is logged once, not every slot. */
  let lockedBy: string | null = null;

  /** Tells `status` (another process) when the next check is due. Best effort: a full disk must not stop the daemon. */
  const publishInfo = async (): Promise<void> => {
    const ending = state.name === "stopped" || (state.name === "running" && state.after === "stop");
    const slot = ending ? null : (task?.getNextRun() ?? null);
    await writeDaemonInfo(config.state_dir, {
      pid: process.pid,
      started_at: startedAt,
      cron: config.schedule.cron,
      timezone: config.schedule.timezone,
      splay_s: config.schedule.splay_s,
      phase_s: phaseMs / 1000,
      next_check: slot ? new Date(slot.getTime() + phaseMs).toISOString() : null,
    }).catch((error) =>
      deps.log.warn({ code: "E_STATE" }, `Could not write daemon.json: ${oneLine(error)}`),
    );
  };

  const runCycle = async (why: string): Promise<void> => {
    try {
      const result = await runUpdate(config, deps, { force: false });
      lockedBy = null;
      deps.log.info(
        { status: result.status, sha: result.to?.sha, version: result.to?.version, trigger: why },
        `Cycle ended: ${result.status}.`,
      );
    } catch (error) {
      const code = codeOf(error);
      if (code === "E_LOCKED") {
        // Held by a live process (stale locks are taken over): try again at the next slot.
        const line = oneLine(error);
        if (line !== lockedBy)
          deps.log.info({ code }, `Cycle skipped, trying again at the next slot: ${line}.`);
        lockedBy = line;
      } else {
        lockedBy = null;
        deps.log.error({ code, trigger: why }, `Cycle failed: ${oneLine(error)}`);
      }
    }
    const nowAs = startedAs === null ? null : await ownSlotSha(config, deps).catch(() => startedAs);
    if (nowAs !== startedAs)
      deps.log.info(
        { component: "updater", from: startedAs, to: nowAs },
        "The updater's active release changed; stopping so the new one starts.",
      );
    await dispatch({ type: "cycle_done", slotChanged: nowAs !== startedAs });
  };

  const schedule = () => {
    task = cron.schedule(
      config.schedule.cron,
      () =>
        new Promise<void>((resolve) => {
          slotOver = resolve;
          void dispatch({ type: "slot" });
        }),
      {
        name: "decnet-updater",
        timezone: config.schedule.timezone,
        noOverlap: true,
        logger: {
          info: (message) => deps.log.debug({ source: "node-cron" }, message),
          warn: (message) => deps.log.warn({ source: "node-cron" }, message),
          error: (message) => deps.log.error({ source: "node-cron" }, String(message)),
          debug: (message) => deps.log.debug({ source: "node-cron" }, String(message)),
        },
      },
    );
    const span = splaySpanMs(config.schedule.splay_s, task.getNextRuns(6));
    phaseMs = hostPhaseMs(config.host_id, span);
  };

  const perform = async (action: DaemonAction): Promise<void> => {
    switch (action) {
      case "wait_phase":
        // node-cron counts the wait as part of the run, so no slot overlaps it.
        phaseTimer = setTimeout(() => {
          phaseTimer = null;
          trigger = "schedule";
          void dispatch({ type: "phase_over" });
        }, phaseMs);
        return;
      case "cancel_wait":
        if (phaseTimer) clearTimeout(phaseTimer);
        phaseTimer = null;
        return;
      case "run_cycle":
        void runCycle(trigger);
        return;
      case "stop_cron":
        await (task as ScheduledTask | null)?.stop();
        return;
      case "reschedule":
        await (task as ScheduledTask | null)?.destroy();
        schedule();
        return;
      case "publish_info":
        await publishInfo();
        return;
    }
  };

  /** Events are handled one at a time, each with all its actions, in order. */
  let queue = Promise.resolve();
  const dispatch = (event: DaemonEvent): Promise<void> => {
    queue = queue.then(async () => {
      const transition = nextState(state, event);
      state = transition.state;
      for (const action of transition.actions) await perform(action);
      if (state.name === "idle" || state.name === "stopped") {
        slotOver?.();
        slotOver = null;
      }
      if (state.name === "stopped") finish(state.exitCode);
    });
    return queue;
  };

  const stop = (signal: string) => {
    if (state.name === "stopped") return;
    const busy = state.name === "running";
    deps.log.info(
      { signal, busy },
      busy
        ? "Stopping: an update not yet rotated is abandoned, one rotated finishes first."
        : "Stopping.",
    );
    stopping.abort();
    void dispatch({ type: "stop" });
  };
  const onTerm = () => stop("SIGTERM");
  const onInt = () => stop("SIGINT");
  const onHup = async () => {
    try {
      const next = await input.reload();
      if (next.state_dir !== config.state_dir) {
        // The daemon's lock and info file live in the old one; moving them under a running daemon is not worth the risk.
        throw new Error(
          `state_dir changed from ${config.state_dir} to ${next.state_dir}; restart the daemon to move it`,
        );
      }
      config = next;
      deps.log.level = config.log.level;
      await dispatch({ type: "reload" });
      deps.log.info({ cron: config.schedule.cron }, "Configuration reloaded.");
      // a reload may move a path outside the unit's writable ones, as a start may
      await warnUnwritable(config, deps.log);
    } catch (error) {
      deps.log.error(
        { code: codeOf(error) },
        `Reload refused, keeping the running configuration: ${oneLine(error)}`,
      );
    }
  };
  input.signals.on("SIGTERM", onTerm);
  input.signals.on("SIGINT", onInt);
  input.signals.on("SIGHUP", onHup);
  const notReady = await notifyReady(deps.env);
  if (notReady) deps.log.warn({}, `Could not tell systemd the daemon is ready: ${notReady}.`);
  await warnUnwritable(config, deps.log);

  try {
    deps.log.info(
      {
        cron: config.schedule.cron,
        timezone: config.schedule.timezone,
        splay_s: config.schedule.splay_s,
      },
      "Daemon started.",
    );
    // A release on trial commits in a cycle (a verified manifest); left to the
    // first cron slot, restarts before it would count as failed starts and
    // could roll back a good release, so it runs one at start whatever
    // run_on_start says.
    const onTrial = startedAs !== null && (await trialStarts(pathsOf(config))) !== null;
    if (config.schedule.run_on_start || onTrial) {
      trigger = config.schedule.run_on_start ? "start" : "trial";
      void dispatch({ type: "start_now" }); // recovery first, under the cycle lock
    } else {
      const lock = await lockHost(config);
      try {
        await recover(config, deps);
      } finally {
        await lock.release();
      }
    }
    schedule();
    await publishInfo();
    return await done;
  } finally {
    input.signals.off("SIGTERM", onTerm);
    input.signals.off("SIGINT", onInt);
    input.signals.off("SIGHUP", onHup);
    if (phaseTimer) clearTimeout(phaseTimer);
    // assigned inside callbacks, which TypeScript's narrowing cannot see
    await (task as ScheduledTask | null)?.destroy();
    await removeDaemonInfo(config.state_dir);
    await daemonLock.release();
  }
}
