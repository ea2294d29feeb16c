import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { acceptManifest } from "../../src/feed/accept.js";
import { parsePublicKey } from "../../src/signing/minisign.js";
import { findMinisign, MINISIGN_SKIP } from "../helpers/minisign-tool.js";
import { publishFixture } from "../helpers/publish-fixture.js";
import { snapshot } from "../helpers/snapshot.js";
import type { tempDir } from "../helpers/tmp.js";

const minisign = findMinisign();
const NOW = new Date("2026-11-26T12:00:00Z");

async function fixture(t: Parameters<typeof tempDir>[0]) {
  const { dir, signer, tarball, publish } = await publishFixture(t, NOW);
  const verify = async () => {
    const bytes = await readFile(join(dir, "feed/manifest.json"));
    const signature = await readFile(join(dir, "feed/manifest.json.minisig"), "utf8");
    const key = parsePublicKey(await readFile(signer.pubFile, "utf8"), "pub");
    return acceptManifest({
      bytes,
      signature,
      trustedKeys: [key],
      channel: "stable",
      component: "decnet",
      unnamedAllowed: false,
      feedUrl: "https://master.test/feed/",
      now: NOW,
      highestSerial: null,
      acceptedSha256: null,
    }).manifest;
  };
  return { dir, signer, tarball, publish, verify };
}

describe("publish", () => {
  test("the first release of an empty feed becomes latest, with its sha256, size and a 14-day expiry", async (t) => {
    const f = await fixture(t);
    const content = "tarball one";
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", content) });
    const manifest = await f.verify();
    assert.equal(manifest.serial, 1);
    assert.equal(manifest.latest, "1.0.0");
    assert.equal(manifest.expires, "2026-12-10T12:00:00.000Z");
    assert.deepEqual(manifest.releases[0], {
      version: "1.0.0",
      sha: "aaaaaaa1",
      url: "decnet-1.0.0.tar.gz",
      sha256: createHash("sha256").update(content).digest("hex"),
      size: content.length,
      published_at: NOW.toISOString(),
      rollout: { percent: 100 },
    });
    assert.equal(await readFile(join(f.dir, "feed/decnet-1.0.0.tar.gz"), "utf8"), content);
  });

  test("a later release keeps latest unless --latest; the serial always goes up", async (t) => {
    const f = await fixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    await f.publish({
      tarball: await f.tarball("decnet-1.1.0.tar.gz", "two"),
      version: "1.1.0",
      sha: "bbbbbbb2",
      rolloutPercent: 20,
    });
    let manifest = await f.verify();
    assert.equal(manifest.serial, 2);
    assert.equal(manifest.latest, "1.0.0");
    assert.deepEqual(
      manifest.releases.map((r) => [r.version, r.rollout.percent]),
      [
        ["1.0.0", 100],
        ["1.1.0", 20],
      ],
    );
    await f.publish({
      tarball: join(f.dir, "decnet-1.1.0.tar.gz"),
      version: "1.1.0",
      sha: "bbbbbbb2",
      latest: true,
    });
    manifest = await f.verify();
    assert.equal(manifest.serial, 3);
    assert.equal(manifest.latest, "1.1.0");
  });

  test("publishing a version again under a new file name replaces it", async (t) => {
    const f = await fixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "first build") });
    await f.publish({
      tarball: await f.tarball("decnet-1.0.0-r2.tar.gz", "rebuilt"),
      sha: "ccccccc3",
    });
    const manifest = await f.verify();
    assert.equal(manifest.releases.length, 1);
    assert.equal(manifest.releases[0]?.sha, "ccccccc3");
    assert.equal(manifest.releases[0]?.url, "decnet-1.0.0-r2.tar.gz");
    assert.equal(manifest.releases[0]?.size, "rebuilt".length);
    assert.equal(manifest.component, "decnet");
  });

  test("refusals leave the feed exactly as it was", async (t) => {
    const f = await fixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    const before = await snapshot(join(f.dir, "feed"));
    await assert.rejects(
      f.publish({ tarball: join(f.dir, "decnet-1.0.0.tar.gz"), channel: "beta" }),
      {
        code: "E_PUBLISH",
        message: `publish: feed ${join(f.dir, "feed")} is channel "stable", --channel says "beta"`,
      },
    );
    await assert.rejects(
      f.publish({ tarball: join(f.dir, "decnet-1.0.0.tar.gz"), version: "2.0.0", sha: "ddddddd4" }),
      {
        code: "E_PUBLISH",
        message:
          "publish: decnet-1.0.0.tar.gz is already the tarball of release 1.0.0; rename the file",
      },
    );
    await assert.rejects(
      f.publish({ tarball: join(f.dir, "missing.tar.gz"), version: "2.0.0" }),
      /publish: cannot copy .*missing\.tar\.gz into the feed \(ENOENT\)/,
    );
    await assert.rejects(
      f.publish({ tarball: join(f.dir, "decnet-1.0.0.tar.gz"), keyFile: f.signer.pubFile }),
      {
        code: "E_KEY",
      },
    );
    await assert.rejects(
      f.publish({ tarball: join(f.dir, "decnet-1.0.0.tar.gz"), rolloutPercent: 101 }),
      { code: "E_USAGE" },
    );
    await assert.rejects(
      f.publish({ tarball: join(f.dir, "decnet-1.0.0.tar.gz"), minUpdater: "^0.2" }),
      {
        code: "E_USAGE",
        message: '--min-updater: expected a semver version like 0.2.0, found "^0.2"',
      },
    );
    assert.deepEqual(await snapshot(join(f.dir, "feed")), before);
  });

  test("the stock minisign -V accepts what publish signs", {
    skip: minisign ? false : MINISIGN_SKIP,
  }, async (t) => {
    if (!minisign) return;
    const f = await fixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    const out = execFileSync(
      minisign.bin,
      ["-V", "-p", f.signer.pubFile, "-m", join(f.dir, "feed/manifest.json")],
      {
        env: minisign.env,
        encoding: "utf8",
      },
    );
    assert.match(
      out,
      /Signature and comment signature verified\nTrusted comment: timestamp:\d+\tfile:manifest\.json\tserial:1\thashed/,
    );
  });
});
