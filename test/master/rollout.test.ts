/**
 * `rollout`'s gate and its change to the feed (issue 18): up only while the
 * hosts that tried the release stay healthy, down always; the change goes
 * through publish's own path (the feed verified first, the record checked,
 * the serial bumped), so a feed someone changed without the key is refused
 * and left as it is.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { publishRelease, readVerifiedFeed } from "../../src/feed/publish.js";
import { checkReport } from "../../src/master/report-schema.js";
import { DEFAULT_STEPS, type RolloutRequest, rollout } from "../../src/master/rollout.js";
import type { Database } from "../../src/master/store/database.js";
import { openStore } from "../../src/master/store/open.js";
import { insertReports } from "../../src/master/store/reports.js";
import { parseSecretKey, publicKeyOf } from "../../src/signing/secret-key.js";
import { makeSigner } from "../helpers/feed.js";
import { hostReport } from "../helpers/reports.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

const SHA = "9090909090909090909090909090909090909090";

async function setUp(t: Parameters<typeof tempDir>[0], percent = 10) {
  const dir = await tempDir(t, "du-rollout-");
  const signer = await makeSigner(join(dir, "keys"));
  const feedDir = join(dir, "feed");
  const tarball = join(dir, "decnet-1.2.0.tar.gz");
  await writeFile(tarball, "not really a release, but bytes with a digest");
  const issuedAt = new Date(Date.now() - 2 * 3600_000);
  await publishRelease({
    feedDir,
    tarball,
    version: "1.2.0",
    sha: SHA,
    keyFile: signer.keyFile,
    latest: true,
    rolloutPercent: percent,
    expiresInS: 86400,
    now: issuedAt,
  });
  const db = await openStore({ sqlitePath: join(dir, "reports.sqlite") }, "receive");
  t.after(() => db.close());
  const request = (fields: Partial<RolloutRequest>): RolloutRequest => ({
    feedDir,
    keyFile: signer.keyFile,
    version: "1.2.0",
    to: 50,
    steps: DEFAULT_STEPS,
    maxFailure: 0.02,
    minHosts: 20,
    minWaitS: 3600,
    expiresInS: 86400,
    trustedKeys: [],
    signedElsewhere: false,
    now: new Date(),
    ...fields,
  });
  const key = publicKeyOf(parseSecretKey(await readFile(signer.keyFile, "utf8"), signer.keyFile));
  const percentNow = async () =>
    (await readVerifiedFeed(feedDir, [key]))?.manifest.releases[0]?.rollout.percent;
  return { dir, feedDir, db, request, percentNow, key };
}

async function attempts(db: Database, outcomes: Record<string, number>): Promise<void> {
  let n = 0;
  const batch = [];
  for (const [status, count] of Object.entries(outcomes))
    for (let i = 0; i < count; i++) {
      const body = JSON.stringify(
        hostReport({ host_id: `h${n++}`, status, to: { sha: SHA, version: "1.2.0" } }),
      );
      const checked = checkReport(JSON.parse(body));
      assert.ok(checked.ok);
      batch.push({
        report: checked.report,
        body,
        digest: createHash("sha256").update(body).digest("hex"),
        receivedAt: new Date().toISOString(),
      });
    }
  await insertReports(db, batch);
}

test("too few attempts: refused with the figures, the feed as it was", async (t) => {
  const { db, request, feedDir } = await setUp(t);
  await attempts(db, { updated: 12 });
  const before = await snapshot(feedDir);
  await assert.rejects(rollout(db, request({})), {
    code: "E_ROLLOUT",
    message:
      "rollout: 1.2.0 stays at 10%, not 50%: 12 host(s) tried it: 12 updated, 0 rolled back, 0 rollback failed, 0 failed (0 skipped); --min-hosts needs 20 attempts",
  });
  assert.deepEqual(await snapshot(feedDir), before);
});

test("a failure rate above --max-failure: refused with the figures, the feed as it was", async (t) => {
  const { db, request, feedDir } = await setUp(t);
  await attempts(db, { updated: 45, rolled_back: 2, failed: 1, skipped: 3 });
  const before = await snapshot(feedDir);
  await assert.rejects(rollout(db, request({})), {
    code: "E_ROLLOUT",
    message:
      "rollout: 1.2.0 stays at 10%, not 50%: failure rate 6.3% is above --max-failure 2.0%: 48 host(s) tried it: 45 updated, 2 rolled back, 0 rollback failed, 1 failed (3 skipped)",
  });
  assert.deepEqual(await snapshot(feedDir), before);
});

test("healthy: re-signed through publish's path with the new percent and the next serial", async (t) => {
  const { db, request, percentNow, feedDir, key } = await setUp(t);
  await attempts(db, { updated: 49, rolled_back: 1 });
  const serial = (await readVerifiedFeed(feedDir, [key]))?.manifest.serial as number;
  const outcome = await rollout(db, request({ maxFailure: 0.02 }));
  assert.deepEqual(
    {
      changed: outcome.changed,
      from: outcome.from_percent,
      to: outcome.to_percent,
      serial: outcome.serial,
    },
    { changed: true, from: 10, to: 50, serial: serial + 1 },
  );
  assert.equal(await percentNow(), 50);
});

test("down is never gated: --halt and a lower percent with every host failing", async (t) => {
  const { db, request, percentNow } = await setUp(t, 50);
  await attempts(db, { failed: 30 });
  assert.equal((await rollout(db, request({ to: 25 }))).to_percent, 25);
  assert.equal(await percentNow(), 25);
  assert.equal((await rollout(db, request({ to: "halt" }))).to_percent, 0);
  assert.equal(await percentNow(), 0);
});

test("--to next walks the steps: it waits --min-wait after the last signature, then one step; at the last step it stays", async (t) => {
  const { db, request, percentNow } = await setUp(t);
  await attempts(db, { updated: 30 });
  const waiting = await rollout(db, request({ to: "next", minWaitS: 3 * 3600 }));
  assert.equal(waiting.changed, false);
  assert.match(
    waiting.note as string,
    /^the manifest was signed 72\d\d s ago \(serial 1\); --min-wait is 10800 s before the next step$/,
  );
  assert.equal(await percentNow(), 10);
  const later = (hours: number) => new Date(Date.now() + hours * 3600_000);
  assert.equal((await rollout(db, request({ to: "next", now: later(1) }))).to_percent, 25);
  assert.equal((await rollout(db, request({ to: "next", now: later(3) }))).to_percent, 50);
  assert.equal((await rollout(db, request({ to: "next", now: later(5) }))).to_percent, 100);
  const last = await rollout(db, request({ to: "next", now: later(7) }));
  assert.deepEqual([last.changed, last.note], [false, "already at 100%, the last step"]);
  assert.equal(await percentNow(), 100);
});

test("a feed changed without the key is refused before anything is signed", async (t) => {
  const { db, request, feedDir } = await setUp(t);
  await attempts(db, { updated: 30 });
  const manifest = join(feedDir, "manifest.json");
  const doc = JSON.parse(await readFile(manifest, "utf8"));
  doc.releases[0].rollout.percent = 100;
  await writeFile(manifest, `${JSON.stringify(doc, null, 2)}\n`);
  const before = await snapshot(feedDir);
  await assert.rejects(rollout(db, request({})), (error: Error & { code?: string }) => {
    assert.equal(error.code, "E_PUBLISH");
    assert.match(
      error.message,
      /^publish: the feed's manifest\.json does not verify with this key: someone changed it, or it was signed with another key \(/,
    );
    return true;
  });
  assert.deepEqual(await snapshot(feedDir), before);
});

test("a release the feed does not have: refused, naming what it has", async (t) => {
  const { db, request, feedDir } = await setUp(t);
  const before = await snapshot(feedDir);
  await assert.rejects(rollout(db, request({ version: "9.9.9" })), {
    code: "E_PUBLISH",
    message: /^publish: feed .+ has no release 9\.9\.9 \(it has 1\.2\.0\)$/,
  });
  assert.deepEqual(await snapshot(feedDir), before);
});

test("a feed folder that is not there (a typo in --feed): refused, and nothing is created", async (t) => {
  const { db, request, feedDir } = await setUp(t);
  const typo = join(dirname(feedDir), "no-such", "feed");
  await assert.rejects(rollout(db, { ...request({}), feedDir: typo }), {
    code: "E_PUBLISH",
    message: `publish: feed ${typo} has no manifest.json: nothing was published there`,
  });
  await assert.rejects(stat(join(dirname(feedDir), "no-such")), { code: "ENOENT" });
});

test("an older signed manifest put back in the folder: even --halt refuses it instead of judging it", async (t) => {
  const { db, request, feedDir } = await setUp(t, 0);
  await attempts(db, { updated: 30 });
  // serial 1 has the release at 0 %; rollout signs serial 2 at 50 %
  const old = {
    manifest: await readFile(join(feedDir, "manifest.json")),
    signature: await readFile(join(feedDir, "manifest.json.minisig")),
  };
  assert.equal((await rollout(db, request({ to: 50 }))).to_percent, 50);
  // whoever writes the folder puts serial 1 back: hosts ignore it (lower serial), still at 50 %
  await writeFile(join(feedDir, "manifest.json"), old.manifest);
  await writeFile(join(feedDir, "manifest.json.minisig"), old.signature);
  const before = await snapshot(feedDir);
  await assert.rejects(rollout(db, request({ to: "halt" })), (error: Error & { code?: string }) => {
    assert.equal(error.code, "E_PUBLISH");
    assert.match(
      error.message,
      /^publish: the feed's manifest\.json \(serial 1, sha256 [0-9a-f]{12}\.\.\.\) is not the one this key last signed for it \(serial 2, /,
    );
    return true;
  });
  assert.deepEqual(await snapshot(feedDir), before);
});
