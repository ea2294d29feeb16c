/**
 * `workers = 2`: two receiver processes behind one listener (node:cluster).
 * Reports from both are stored once each; SIGTERM stops every process with
 * exit 0; a worker that dies takes the receiver down with exit 1, so
 * systemd restarts it whole.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openStore } from "../../src/master/store/open.js";
import { makePki } from "../helpers/pki.js";
import { postReport, receiverToml, spawnReceiver } from "../helpers/receiver.js";
import { hostReport } from "../helpers/reports.js";

const root = mkdtempSync(join(tmpdir(), "du-receiver-workers-"));
after(() => rm(root, { recursive: true, force: true }));
const pki = makePki(root);
const client = pki.issue("worker-w", { clientAuth: true });

/** The receiver's worker processes (not tsx's esbuild service, also a child here). */
const children = (pid: number) =>
  execFileSync("pgrep", ["-P", String(pid), "-f", "receive --config"], { encoding: "utf8" })
    .trim()
    .split("\n")
    .filter(Boolean)
    .map(Number);

test("two workers share the listener; SIGTERM stops them all with exit 0", async () => {
  const dir = mkdtempSync(join(root, "two-"));
  const config = join(dir, "receiver.toml");
  await writeFile(config, receiverToml(dir, pki, { mode: "mtls", extra: "workers = 2" }));
  const receiver = await spawnReceiver(config);
  after(() => receiver.stop("SIGKILL"));
  // both workers say where they listen; the first line is enough to send
  const workers = children(receiver.child.pid as number);
  assert.equal(workers.length, 2, `worker pids: ${workers.join(", ")}`);
  const bodies = Array.from({ length: 40 }, () =>
    JSON.stringify(hostReport({ host_id: "worker-w" })),
  );
  const answers = await Promise.all(
    bodies.map((body) => postReport(receiver.url, body, { client, ca: pki.ca })),
  );
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [201]);
  const again = await postReport(receiver.url, bodies[0] as string, { client, ca: pki.ca });
  assert.equal(again.status, 409, "the other worker knows it too: one store");
  assert.equal(await receiver.stop("SIGTERM"), 0);
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), "the worker is gone");
  const db = await openStore({ sqlitePath: join(dir, "state/reports.sqlite") }, "read");
  const n = Number((await db.read.get<{ n: number }>("SELECT count(*) AS n FROM reports"))?.n);
  await db.close();
  assert.equal(n, 40);
});

test("a worker that dies takes the receiver down with exit 1", async () => {
  const dir = mkdtempSync(join(root, "die-"));
  const config = join(dir, "receiver.toml");
  await writeFile(config, receiverToml(dir, pki, { mode: "mtls", extra: "workers = 2" }));
  const receiver = await spawnReceiver(config);
  const [first] = children(receiver.child.pid as number);
  const exited = new Promise<number | null>((resolve) =>
    receiver.child.once("exit", (code) => resolve(code)),
  );
  process.kill(first as number, "SIGKILL");
  assert.equal(await exited, 1);
  assert.ok(
    receiver
      .lines()
      .some((l) =>
        /^Receiver worker \d+ died \(SIGKILL\); stopping the others\.$/.test(String(l.msg)),
      ),
  );
});
