/**
 * Runs the daemon's cycle in this process, as `decnet-updater run` does:
 * one cycle to prime (manifest fetched and verified), then `count` cycles
 * that find nothing new, and prints their CPU and wall time per cycle as
 * JSON. Then the transport alone for comparison: the same conditional GET
 * with a fresh mTLS client, no manifest logic.
 *
 * It runs the built program (npm run build), as hosts do, so the figures
 * carry no TypeScript loader or source maps.
 *
 *   node bench/drivers/idle-cycles.mjs CONFIG COUNT
 */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runUpdate } from "../../dist/src/cycle/run-update.js";
import { commandContext } from "../../dist/src/host/command-context.js";
import { createFeedClient } from "../../dist/src/host/deps.js";
import { boundedGet } from "../../dist/src/http/get.js";

const [configFile, countText] = process.argv.slice(2);
const count = Number(countText ?? 50);
const devNull = new Writable({ write: (_chunk, _encoding, done) => done() });
const context = await commandContext(configFile, devNull);
// as `run` sets it once its modules are loaded (src/cli/v8-flags.ts; dist/src/cli/ holds bundles only)
setFlagsFromString("--semi-space-growth-factor=1");

/** Waits for the parent to read its counters (one line on stdin). */
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const mark = async (name) => {
  process.stdout.write(`${name}\n`);
  await lines.next();
};

const primed = await runUpdate(context.config, context, { force: false });
if (primed.status !== "up_to_date") throw new Error(`priming cycle ended ${primed.status}`);
// warm up the code paths the way a long-running daemon has them
for (let i = 0; i < 20; i++) await runUpdate(context.config, context, { force: false });

await mark("cycles");
let cpu = process.cpuUsage();
let wall = performance.now();
for (let i = 0; i < count; i++) {
  const result = await runUpdate(context.config, context, { force: false });
  if (result.status !== "up_to_date") throw new Error(`cycle ended ${result.status}`);
}
const cycle = { cpu: process.cpuUsage(cpu), wall: performance.now() - wall };

await mark("transport");
const url = new URL("manifest.json", context.config.feed.url).toString();
const etag = JSON.parse(
  await (await import("node:fs/promises")).readFile(
    `${context.config.state_dir}/state.json`,
    "utf8",
  ),
).etag;
cpu = process.cpuUsage();
wall = performance.now();
for (let i = 0; i < count; i++) {
  const client = await createFeedClient(context.config);
  try {
    await boundedGet(url, {
      client,
      maxBytes: 1 << 20,
      deadlineMs: 10_000,
      what: "manifest",
      headers: { "if-none-match": etag },
    });
  } finally {
    await client.close();
  }
}
const transport = { cpu: process.cpuUsage(cpu), wall: performance.now() - wall };

const perCycle = (m) => ({
  cpu_ms: (m.cpu.user + m.cpu.system) / 1000 / count,
  wall_ms: m.wall / count,
});
await mark(JSON.stringify({ cycle: perCycle(cycle), transport: perCycle(transport) }));
process.exit(0);
