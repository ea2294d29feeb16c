import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import type { Manifest, Release } from "../../src/feed/manifest.js";
import { rolloutBucket, type SelectInput, selectRelease } from "../../src/feed/select.js";

function release(version: string, sha: string, percent = 100): Release {
  return {
    version,
    sha,
    url: `decnet-${version}.tar.gz`,
    sha256: "0".repeat(64),
    size: 1,
    rollout: { percent },
  };
}

const manifest: Manifest = {
  schema: 1,
  channel: "stable",
  serial: 7,
  issued_at: "2026-11-26T00:00:00Z",
  expires: "2026-12-10T00:00:00Z",
  latest: "1.2.1",
  releases: [
    release("1.1.0", "aaaaaaa"),
    release("1.2.0", "bbbbbbb"),
    release("1.2.1", "ccccccc"),
    release("2.0.0", "ddddddd"),
  ],
};

function input(overrides: Partial<SelectInput> = {}): SelectInput {
  return {
    manifest,
    pin: { hold: false },
    hostId: "host-1",
    activeSha: "aaaaaaa",
    blockedShas: new Set(),
    force: false,
    ...overrides,
  };
}

describe("target selection", () => {
  test("unpinned hosts take latest, not the highest version", () => {
    const d = selectRelease(input());
    assert.equal(d.kind, "update");
    assert.equal(d.target.version, "1.2.1");
  });

  test("without latest the highest version is the target", () => {
    const { latest: _drop, ...rest } = manifest;
    assert.equal(selectRelease(input({ manifest: rest })).target.version, "2.0.0");
  });

  test("pin.version takes the highest release in the range", () => {
    assert.equal(
      selectRelease(input({ pin: { hold: false, version: "~1.2" } })).target.version,
      "1.2.1",
    );
    assert.equal(
      selectRelease(input({ pin: { hold: false, version: ">=1.2 <2" } })).target.version,
      "1.2.1",
    );
    assert.equal(
      selectRelease(input({ pin: { hold: false, version: "1.2.0" } })).target.version,
      "1.2.0",
    );
    assert.equal(
      selectRelease(input({ pin: { hold: false, version: "^2" } })).target.version,
      "2.0.0",
    );
  });

  test("pin.sha wins over pin.version", () => {
    const d = selectRelease(input({ pin: { hold: false, version: "~1.2", sha: "ddddddd" } }));
    assert.equal(d.target.version, "2.0.0");
  });

  test("a pin that matches nothing is an error naming the pin", () => {
    assert.throws(() => selectRelease(input({ pin: { hold: false, sha: "eeeeeee" } })), {
      code: "E_PIN",
      message: "pin.sha eeeeeee is not in manifest serial 7",
    });
    assert.throws(() => selectRelease(input({ pin: { hold: false, version: "~3" } })), {
      code: "E_PIN",
      message:
        'pin.version "~3" matches no release in manifest serial 7 (versions: 1.1.0, 1.2.0, 1.2.1, 2.0.0)',
    });
  });

  test("the active sha means up to date; --force reinstalls it", () => {
    assert.equal(selectRelease(input({ activeSha: "ccccccc" })).kind, "up_to_date");
    assert.equal(selectRelease(input({ activeSha: "ccccccc", force: true })).kind, "update");
  });

  test("pin.hold says held whether or not an update is due, and names what it would do", () => {
    const due = selectRelease(input({ pin: { hold: true } }));
    assert.equal(due.kind, "held");
    assert.match(due.reason, /would update: 1\.2\.1/);
    assert.equal(selectRelease(input({ pin: { hold: true }, activeSha: "ccccccc" })).kind, "held");
  });

  test("a release marked failed is skipped unless forced", () => {
    assert.equal(selectRelease(input({ blockedShas: new Set(["ccccccc"]) })).kind, "skipped");
    assert.equal(
      selectRelease(input({ blockedShas: new Set(["ccccccc"]), force: true })).kind,
      "update",
    );
  });

  test("the rollout bucket is sha256(host_id:sha)[0..4] big-endian mod 100", () => {
    const expected = createHash("sha256").update("host-1:ccccccc").digest().readUInt32BE(0) % 100;
    assert.equal(rolloutBucket("host-1", "ccccccc"), expected);
  });

  test("rollout: a host takes the release only when its bucket is below the percent", () => {
    const hosts = Array.from({ length: 400 }, (_, i) => `host-${i}`);
    const partial = {
      ...manifest,
      releases: manifest.releases.map((r) =>
        r.sha === "ccccccc" ? { ...r, rollout: { percent: 25 } } : r,
      ),
    };
    let updating = 0;
    for (const hostId of hosts) {
      const d = selectRelease(input({ manifest: partial, hostId }));
      const inBucket = rolloutBucket(hostId, "ccccccc") < 25;
      assert.equal(d.kind, inBucket ? "update" : "up_to_date", hostId);
      if (d.kind === "update") updating++;
    }
    // about a quarter of the fleet; the bound is loose so the check is about the rule, not luck
    assert.ok(updating > 60 && updating < 140, `${updating} of 400`);
  });

  test("rollout does not apply to pinned hosts nor to a host with nothing installed", () => {
    const none = {
      ...manifest,
      releases: manifest.releases.map((r) => ({ ...r, rollout: { percent: 0 } })),
    };
    assert.equal(selectRelease(input({ manifest: none })).kind, "up_to_date");
    assert.equal(
      selectRelease(input({ manifest: none, pin: { hold: false, version: "1.2.1" } })).kind,
      "update",
    );
    assert.equal(selectRelease(input({ manifest: none, activeSha: null })).kind, "update");
  });
});

describe("min_updater (SPEC section 12)", () => {
  const needs = (min: string): Manifest => ({
    ...manifest,
    releases: manifest.releases.map((r) => (r.sha === "ccccccc" ? { ...r, min_updater: min } : r)),
  });

  test("a release that needs a newer updater waits, with the reason, even with --force", () => {
    for (const force of [false, true]) {
      const d = selectRelease(
        input({ manifest: needs("0.3.0"), force, updater: { version: "0.2.9", selfUpdate: true } }),
      );
      assert.equal(d.kind, "skipped");
      assert.equal(
        d.reason,
        "1.2.1 (ccccccc) needs decnet-updater >= 0.3.0 and this is 0.2.9; the updater updates itself first",
      );
    }
    const off = selectRelease(
      input({ manifest: needs("0.3.0"), updater: { version: "0.2.9", selfUpdate: false } }),
    );
    assert.match(
      off.reason,
      /; it waits: self_update is disabled, upgrade decnet-updater on this host$/,
    );
  });

  test("an updater at or above min_updater installs it; hold and up to date still win", () => {
    const at = { version: "0.3.0", selfUpdate: true };
    assert.equal(selectRelease(input({ manifest: needs("0.3.0"), updater: at })).kind, "update");
    const old = { version: "0.1.0", selfUpdate: true };
    assert.equal(
      selectRelease(input({ manifest: needs("0.3.0"), updater: old, activeSha: "ccccccc" })).kind,
      "up_to_date",
    );
    assert.equal(
      selectRelease(input({ manifest: needs("0.3.0"), updater: old, pin: { hold: true } })).kind,
      "held",
    );
  });
});
