/**
 * The receiver under faults (issue 18), each test asserting what is stored:
 * a SIGKILL in the middle of a burst loses no acknowledged report and
 * stores none twice; a full disk under the store answers 503 and stores
 * nothing, while the host's real outbox keeps the report until there is
 * room; a PostgreSQL restart in a burst is 503 while it is down and heals
 * by itself.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { open, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createHttpClient } from "../../src/http/tls.js";
import { createLogger } from "../../src/log.js";
import { openStore } from "../../src/master/store/open.js";
import type { Report } from "../../src/report/build.js";
import { flushOutbox, writeToOutbox } from "../../src/report/outbox.js";
import { makePki } from "../helpers/pki.js";
import { POSTGRES_SKIP, startPostgres } from "../helpers/postgres.js";
import { type Answer, postReport, receiverToml, spawnReceiver } from "../helpers/receiver.js";
import { hostReport } from "../helpers/reports.js";

const root = mkdtempSync(join(tmpdir(), "du-receiver-faults-"));
const mounts: string[] = [];
after(async () => {
  for (const dir of mounts) spawnSync("umount", ["-l", dir]);
  await rm(root, { recursive: true, force: true });
});
const pki = makePki(root);
const client = pki.issue("worker-f", { clientAuth: true });
let n = 0;
const subdir = (name: string) => mkdtempSync(join(root, `${name}-${++n}-`));

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = subdir("probe");
  const ok = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).status === 0;
  if (ok) spawnSync("umount", [dir]);
  return ok;
}
const MOUNT_SKIP = canMount() ? false : "needs root and `mount -t tmpfs` (run as root, as CI does)";

async function storedIds(config: { sqlitePath: string; url?: string }): Promise<string[]> {
  const db = await openStore(config, "read");
  try {
    return (await db.read.all<{ id: string }>("SELECT id FROM reports")).map((r) => r.id);
  } finally {
    await db.close();
  }
}

/** Posts every body with `parallel` connections at a time; the answers by id (an error: status 0). */
async function burst(
  url: string,
  bodies: string[],
  parallel: number,
): Promise<Map<string, Answer>> {
  const answers = new Map<string, Answer>();
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++] as string;
      const id = JSON.parse(body).id as string;
      answers.set(
        id,
        await postReport(url, body, { client, ca: pki.ca }).catch(() => ({ status: 0, text: "" })),
      );
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return answers;
}

test("SIGKILL in the middle of a burst: every acknowledged report is there once, and a re-send completes the rest", async () => {
  const dir = subdir("kill");
  const config = join(dir, "receiver.toml");
  await writeFile(config, receiverToml(dir, pki, { mode: "mtls" }));
  const bodies = Array.from({ length: 400 }, (_, i) =>
    JSON.stringify(
      hostReport({
        host_id: "worker-f",
        finished_at: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(),
      }),
    ),
  );
  const first = await spawnReceiver(config);
  let acked = 0;
  const answers = new Map<string, Answer>();
  const sending = (async () => {
    let next = 0;
    const worker = async () => {
      while (next < bodies.length) {
        const body = bodies[next++] as string;
        const answer = await postReport(first.url, body, { client, ca: pki.ca }).catch(() => ({
          status: 0,
          text: "",
        }));
        answers.set(JSON.parse(body).id, answer);
        if (answer.status === 201 && ++acked === 60) first.child.kill("SIGKILL");
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  })();
  await sending;
  await first.stop();
  const ackedIds = [...answers].filter(([, a]) => a.status === 201).map(([id]) => id);
  assert.ok(
    ackedIds.length >= 60 && ackedIds.length < bodies.length,
    `${ackedIds.length} acknowledged before the kill`,
  );
  const location = { sqlitePath: join(dir, "state/reports.sqlite") };
  const afterKill = await storedIds(location);
  for (const id of ackedIds)
    assert.ok(afterKill.includes(id), `acknowledged ${id} survived the SIGKILL`);
  assert.equal(new Set(afterKill).size, afterKill.length);

  // the hosts send again what was not acknowledged (and, as they may, what was)
  const second = await spawnReceiver(config);
  const resent = await burst(second.url, bodies, 8);
  await second.stop();
  for (const [id, answer] of resent)
    assert.ok(
      answer.status === (afterKill.includes(id) ? 409 : 201),
      `${id}: ${answer.status} ${answer.text}`,
    );
  const all = await storedIds(location);
  assert.equal(all.length, bodies.length);
  assert.equal(new Set(all).size, bodies.length, "exactly once");
});

test("a full disk under the store: 503 and nothing stored; the host's outbox keeps the report until there is room", {
  skip: MOUNT_SKIP,
}, async () => {
  const dir = subdir("full");
  const state = join(dir, "state");
  mkdirSync(state);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", state]);
  mounts.push(state);
  const config = join(dir, "receiver.toml");
  await writeFile(config, receiverToml(dir, pki, { mode: "mtls" }));
  const receiver = await spawnReceiver(config);
  try {
    const one = await postReport(
      receiver.url,
      JSON.stringify(hostReport({ host_id: "worker-f" })),
      { client, ca: pki.ca },
    );
    assert.equal(one.status, 201, one.text);
    // fill what is left
    const filler = await open(join(state, "filler"), "w");
    const block = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) await filler.write(block);
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, "ENOSPC");
    }
    await filler.close();
    const location = { sqlitePath: join(state, "reports.sqlite") };
    const before = await storedIds(location);

    // the host's own outbox and delivery code
    const outbox = join(dir, "host-outbox");
    const report = hostReport({
      host_id: "worker-f",
      stderr: "x".repeat(8000),
    }) as unknown as Report;
    await writeToOutbox(outbox, report);
    const http = await createHttpClient(
      { ca: pki.ca, cert: client.cert, key: client.key, keyPrefix: "feed" },
      { timeoutMs: 5000 },
    );
    const log = createLogger("silent", process.stderr);
    const flush = () =>
      flushOutbox({
        client: http,
        url: `${receiver.url}/reports`,
        outboxDir: outbox,
        log,
        sleep: async () => {},
        attempts: 1,
      });
    try {
      const direct = await postReport(
        receiver.url,
        JSON.stringify(hostReport({ host_id: "worker-f", stderr: "y".repeat(8000) })),
        { client, ca: pki.ca },
      );
      assert.equal(direct.status, 503, direct.text);
      assert.equal(
        direct.text,
        "report not stored: the store failed (disk full); send it again later\n",
      );
      assert.deepEqual(await flush(), { sent: 0, pending: 1 });
      assert.deepEqual(await readdir(outbox), [`${report.id}.json`], "kept in the outbox");
      assert.deepEqual((await storedIds(location)).sort(), before.sort(), "nothing stored");
      await rm(join(state, "filler"));
      assert.deepEqual(await flush(), { sent: 1, pending: 0 });
      assert.deepEqual(await readdir(outbox), []);
      assert.ok((await storedIds(location)).includes(report.id));
    } finally {
      await http.close();
    }
  } finally {
    await receiver.stop();
  }
});

test("PostgreSQL restarts in the middle of a burst: 503 while it is down, stored again once it is back", {
  skip: POSTGRES_SKIP,
}, async () => {
  const dir = subdir("pg");
  const pg = await startPostgres();
  try {
    const config = join(dir, "receiver.toml");
    await writeFile(config, receiverToml(dir, pki, { mode: "mtls", storeUrl: pg.url }));
    const receiver = await spawnReceiver(config);
    try {
      const bodies = Array.from({ length: 120 }, () =>
        JSON.stringify(hostReport({ host_id: "worker-f" })),
      );
      const answers = await Promise.all([
        burst(receiver.url, bodies.slice(0, 60), 4),
        (async () => {
          pg.halt();
          const down = await postReport(
            receiver.url,
            JSON.stringify(hostReport({ host_id: "worker-f" })),
            { client, ca: pki.ca },
          );
          pg.start();
          return down;
        })(),
      ]);
      const [first, down] = answers;
      assert.equal(down.status, 503, down.text);
      assert.match(
        down.text,
        /^report not stored: the store failed \(.+\); send it again later\n$/,
      );
      // back by itself: the rest of the burst, and a re-send of everything
      const second = await burst(receiver.url, bodies, 4);
      for (const [id, answer] of second) {
        const firstAnswer = first.get(id);
        const expected = firstAnswer?.status === 201 ? 409 : [201, 409];
        if (Array.isArray(expected))
          assert.ok(expected.includes(answer.status), `${id}: ${answer.status} ${answer.text}`);
        else assert.equal(answer.status, expected, `${id}: ${answer.text}`);
      }
      const ids = await storedIds({ url: pg.url, sqlitePath: "" });
      assert.equal(ids.length, bodies.length);
      assert.equal(new Set(ids).size, bodies.length);
      assert.ok(
        [...first.values()].some((a) => a.status === 201),
        "some were stored before the restart",
      );
    } finally {
      await receiver.stop();
    }
  } finally {
    pg.stop();
  }
});
