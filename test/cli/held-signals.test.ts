/**
 * Signals held from the program's first line (src/cli/held-signals.ts) reach
 * the command even when the command has a copy of the module of its own, as
 * `update`'s bundle does (dist/src/cli/fast/update.cjs beside main.js).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { REPO } from "../helpers/cli.js";

test("a signal held by one copy of the module is delivered to a listener of another copy", () => {
  const module = resolve(REPO, "src/cli/held-signals.ts");
  const script = `
const main = await import(${JSON.stringify(`${module}?copy=main`)});
const command = await import(${JSON.stringify(`${module}?copy=command`)});
if (main === command) throw new Error("one module, not two copies");
main.holdSignals("update");
process.kill(process.pid, "SIGTERM"); // before anyone listens: held
await new Promise((done) => setTimeout(done, 100));
command.heldSignals.on("SIGTERM", () => { process.stdout.write("delivered"); process.exit(0); });
setTimeout(() => { process.stdout.write("lost"); process.exit(3); }, 2000);
`;
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script],
    {
      cwd: REPO,
      encoding: "utf8",
    },
  );
  assert.deepEqual(
    { status: child.status, signal: child.signal, stdout: child.stdout },
    { status: 0, signal: null, stdout: "delivered" },
    child.stderr,
  );
});
