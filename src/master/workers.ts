/**
 * `receive` with `workers = N`: N receiver processes share the listeners
 * (node:cluster hands connections round-robin), so TLS handshakes and JSON
 * use every core. The primary migrates the store once, then only watches:
 * SIGTERM goes to every worker, each finishes its requests in flight; a
 * worker that dies takes the primary down with exit 1, so systemd restarts
 * the whole receiver (Restart=on-failure) instead of it limping on.
 * Each worker has its own store connection and group commit; SQLite
 * serialises their transactions (WAL, busy_timeout), PostgreSQL runs them.
 */
import cluster from "node:cluster";
import { oneLine } from "../errors.js";
import type { Logger } from "../log.js";
import type { ReceiverConfig } from "./config.js";
import { startReceiver } from "./receiver.js";
import { openStore } from "./store/open.js";

function stopSignal(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
    process.on("SIGHUP", () =>
      log.info("SIGHUP: nothing to reload; restart to read the config again."),
    );
  });
}

async function serve(config: ReceiverConfig, log: Logger): Promise<void> {
  const receiver = await startReceiver(config, log);
  const signal = await stopSignal(log);
  log.info({ signal }, `Stopping on ${signal}: finishing the requests in flight.`);
  await receiver
    .close()
    .catch((error) =>
      log.error({ code: "E_STORE" }, `Store not closed cleanly: ${oneLine(error)}`),
    );
  // a worker's channel to the primary would keep it alive
  cluster.worker?.disconnect();
}

/** Runs the receiver until SIGTERM or SIGINT; resolves with the exit code. */
export async function runReceiver(config: ReceiverConfig, log: Logger): Promise<number> {
  if (config.workers <= 1 || cluster.isWorker) {
    await serve(config, log);
    return 0;
  }
  // once, before any worker opens it
  await (await openStore(config.store, "receive")).close();
  let stopping = false;
  const exits: Array<Promise<void>> = [];
  let failed = false;
  for (let i = 0; i < config.workers; i++) {
    const worker = cluster.fork();
    exits.push(
      new Promise((resolve) =>
        worker.once("exit", (code, signal) => {
          if (!stopping) {
            failed = true;
            log.error(
              { worker: worker.id, exit_code: code, signal },
              `Receiver worker ${worker.id} died (${signal ?? `exit ${code}`}); stopping the others.`,
            );
            stopping = true;
            for (const other of Object.values(cluster.workers ?? {}))
              other?.process.kill("SIGTERM");
          }
          resolve();
        }),
      ),
    );
  }
  const signal = await Promise.race([stopSignal(log), Promise.all(exits).then(() => null)]);
  if (signal) {
    log.info(
      { signal },
      `Stopping on ${signal}: ${config.workers} worker(s) finish their requests in flight.`,
    );
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  }
  await Promise.all(exits);
  return failed ? 1 : 0;
}
