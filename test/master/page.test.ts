/**
 * `GET /fleet` in a real headless Chromium (Debian's chromium): the page
 * Chromium builds from the receiver's answer has a bar per release with
 * its outcomes in their own segments, and the tables of failing and stale
 * hosts; markup a host put in its id or error line stays text. The
 * screenshot goes to a temp file, or to $DECNET_FLEET_SCREENSHOT (how
 * docs/fleet.png was made).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runProcess } from "../helpers/cli.js";
import { makePki } from "../helpers/pki.js";
import { postReport, startTestReceiver } from "../helpers/receiver.js";
import { hostReport, SHA_A, SHA_B, SHA_C } from "../helpers/reports.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const SKIP = CHROMIUM ? false : "Chromium not available: apt-get install chromium";

const root = mkdtempSync(join(tmpdir(), "du-fleet-page-"));
after(() => rm(root, { recursive: true, force: true }));

/** Async: the receiver answering Chromium runs in this process. */
async function chromium(args: string[]): Promise<string> {
  const run = await runProcess(
    CHROMIUM as string,
    [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--hide-scrollbars",
      `--user-data-dir=${join(root, "profile")}`,
      ...args,
    ],
    { env: process.env },
  );
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

test("the fleet page, as Chromium renders it", { skip: SKIP }, async () => {
  const pki = makePki(root);
  const dir = join(root, "r");
  mkdirSync(dir);
  const receiver = await startTestReceiver(dir, pki, { mode: "proxy" });
  try {
    const send = async (host: string, fields: Record<string, unknown>) => {
      const answer = await postReport(
        receiver.url,
        JSON.stringify(hostReport({ host_id: host, ...fields })),
        {
          headers: {
            "x-client-verify": "SUCCESS",
            "x-client-subject": `CN=${host.replace(/([,+\\])/g, "\\$1")}`,
          },
        },
      );
      assert.equal(answer.status, 201, answer.text);
    };
    const v12 = { sha: SHA_C, version: "1.2.0" };
    for (let i = 0; i < 6; i++) await send(`worker-${i}`, { to: v12, status: "updated" });
    await send("worker-6", {
      to: v12,
      status: "rolled_back",
      error: "probe: GET /health answered 500 (30 attempts)",
    });
    await send("worker-7", { to: v12, status: "failed", error: "install: pip exited 1" });
    await send('<img src=x onerror="alert(1)">', {
      to: v12,
      status: "failed",
      error: "<script>alert(2)</script>",
    });
    await send("worker-8", {
      to: { sha: SHA_B, version: "1.1.0" },
      from: { sha: SHA_A, version: "1.0.0" },
      status: "updated",
    });
    await receiver.db.write((tx) =>
      tx.run("UPDATE hosts SET last_seen = ? WHERE host_id = ?", [
        "2026-01-01T00:00:00.000Z",
        "worker-8",
      ]),
    );
    const url = `${receiver.viewUrl}/fleet`;
    const head = await fetch(url);
    assert.equal(
      head.headers.get("content-security-policy"),
      "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );

    const dom = await chromium(["--dump-dom", url]);
    const release =
      /<tr class="release"[^>]*data-version="1\.2\.0"[^>]*>([\s\S]*?)<\/tr>/.exec(dom)?.[1] ?? "";
    assert.match(release, /<span class="seg updated" data-count="6"/);
    assert.match(release, /<span class="seg rolled_back" data-count="1"/);
    assert.match(release, /<span class="seg failed" data-count="2"/);
    assert.match(release, /<td class="rate">33\.3%<\/td>/);
    const failing = /<table id="failing">([\s\S]*?)<\/table>/.exec(dom)?.[1] ?? "";
    assert.equal((failing.match(/<tr class="failing">/g) ?? []).length, 3);
    assert.match(failing, /<td>probe: GET \/health answered 500 \(30 attempts\)<\/td>/);
    // what a host sent is text, not markup
    assert.match(failing, /<td>&lt;img src=x onerror="alert\(1\)"&gt;<\/td>/);
    assert.match(failing, /<td>&lt;script&gt;alert\(2\)&lt;\/script&gt;<\/td>/);
    assert.doesNotMatch(dom, /<img|<script/);
    const stale = /<table id="stale">([\s\S]*?)<\/table>/.exec(dom)?.[1] ?? "";
    assert.match(
      stale,
      /<tr class="stale"><td>worker-8<\/td><td>2026-01-01T00:00:00\.000Z<\/td><td>1\.1\.0<\/td><\/tr>/,
    );
    assert.match(
      dom,
      /<p class="summary" id="summary" data-hosts="10" data-failing="3" data-stale="1">/,
    );

    const shot = process.env.DECNET_FLEET_SCREENSHOT ?? join(root, "fleet.png");
    await chromium([`--screenshot=${shot}`, "--window-size=1280,760", url]);
    const png = readFileSync(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 1280, "the width asked for");
    assert.ok(png.length > 10_000, `a page with content, not a blank (${png.length} bytes)`);
  } finally {
    await receiver.close();
  }
});
