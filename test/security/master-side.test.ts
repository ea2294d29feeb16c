/**
 * Issue 15, points 1-6: attacker (b), whoever can write the master's served
 * folder or answer as its web server without the signing key, and (c), a
 * release author whose odd manifest entries the key holder signed. Each
 * refusal is asserted exactly, with the feed folder or the host's state dir
 * unchanged.
 */
import assert from "node:assert/strict";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCheck } from "../../src/agent/check.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { parsePublicKey } from "../../src/signing/minisign.js";
import { peekState } from "../../src/state/store.js";
import { agentDeps } from "../helpers/deps.js";
import {
  loadAgentConfig,
  makeSigner,
  manifestDoc,
  release,
  runningHost,
  type Signer,
  signedFeed,
  writeAgentConfig,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles } from "../helpers/mtls-server.js";
import { makePki } from "../helpers/pki.js";
import { publishFixture } from "../helpers/publish-fixture.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

const NOW = new Date();

/**
 * What a host has accepted: every file of the state dir but state.json, and
 * state.json's serial, manifest digest, ETag and component mark (a refused
 * check is recorded there as the last check, which is not acceptance).
 */
async function accepted(stateDir: string): Promise<unknown> {
  const files = await snapshot(stateDir);
  delete files["state.json"];
  const { state } = await peekState(join(stateDir, "state.json"));
  const { highest_serial, manifest_sha256, etag, component_seen } = state;
  return { files, highest_serial, manifest_sha256, etag, component_seen };
}

const feedFixture = (t: Parameters<typeof tempDir>[0]) => publishFixture(t, NOW, "du-sec-master-");

/** A host (check only) against an mTLS server whose files the test sets. */
async function hostFixture(t: Parameters<typeof tempDir>[0], keys?: (s: Signer) => string[]) {
  const dir = await tempDir(t, "du-sec-host-");
  const pki = makePki(dir);
  const signer = await makeSigner(join(dir, "key"));
  const other = await makeSigner(join(dir, "other"));
  const files = { current: new Map<string, Buffer>() };
  const server = await startMtlsServer(pki, (req, res) => staticFiles(files.current)(req, res));
  t.after(() => server.close());
  const write = (trusted: string[]) =>
    writeAgentConfig(dir, pki, signer, `${server.url}/feed`, {
      feed: { trusted_keys: trusted } as never,
    });
  const dirs = await write(keys ? keys(signer) : [signer.pubLine]);
  return { dir, pki, signer, other, files, server, dirs, write };
}

describe("attacker (b): the master's served folder without the key", () => {
  test("point 1: publish never signs what it did not verify: an edited manifest.json is refused and the feed is unchanged", async (t) => {
    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    // Without the key: a release added and made latest in the served manifest.
    const path = join(f.feedDir, "manifest.json");
    const doc = JSON.parse(await readFile(path, "utf8"));
    doc.releases.push({
      ...doc.releases[0],
      version: "6.6.6",
      sha: "eeeeeee6",
      url: "evil.tar.gz",
    });
    doc.latest = "6.6.6";
    await writeFile(path, JSON.stringify(doc, null, 2));
    await f.refuses(null, {
      message:
        /^publish: the feed's manifest\.json does not verify with this key: someone changed it, or it was signed with another key \(signature does not verify with key [0-9A-F]{16}\); after a key rotation pass the old public key with --trusted-key$/,
    });
  });

  test("point 1: a manifest.json without its signature is refused; an empty feed is the only unsigned case", async (t) => {
    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    await rm(join(f.feedDir, "manifest.json.minisig"));
    await f.refuses(null, {
      message: /does not verify with this key: .*\(manifest\.json\.minisig is missing\)/,
    });
  });

  test("point 1: an older signed manifest put back is refused, not built on (publish records what it signed, beside the key)", async (t) => {
    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    const old = {
      manifest: await readFile(join(f.feedDir, "manifest.json")),
      signature: await readFile(join(f.feedDir, "manifest.json.minisig")),
    };
    await f.publish({
      tarball: await f.tarball("decnet-2.0.0.tar.gz", "two"),
      version: "2.0.0",
      sha: "bbbbbbb2",
      latest: true,
    });
    // Without the key: yesterday's valid pair, which would drop 2.0.0 and its latest.
    await writeFile(join(f.feedDir, "manifest.json"), old.manifest);
    await writeFile(join(f.feedDir, "manifest.json.minisig"), old.signature);
    await f.refuses(
      {
        tarball: await f.tarball("decnet-2.1.0.tar.gz", "three"),
        version: "2.1.0",
        sha: "ccccccc3",
      },
      {
        message:
          /^publish: the feed's manifest\.json \(serial 1, sha256 [0-9a-f]{12}\.\.\.\) is not the one this key last signed for it \(serial 2, sha256 [0-9a-f]{12}\.\.\.\): someone put another signed manifest there; if you signed it by other means, pass --signed-elsewhere$/,
      },
    );
  });

  test("point 1: another feed's manifest signed with the same key, copied in, is refused (a higher serial is no proof)", async (t) => {
    const f = await feedFixture(t);
    const beta = join(f.dir, "beta");
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    for (const [version, sha] of [
      ["2.0.0", "bbbbbbb2"],
      ["2.1.0", "ccccccc3"],
    ] as const)
      await f.publish({
        feedDir: beta,
        channel: "beta",
        tarball: await f.tarball(`decnet-${version}.tar.gz`, version),
        version,
        sha,
      });
    for (const name of ["manifest.json", "manifest.json.minisig"])
      await writeFile(join(f.feedDir, name), await readFile(join(beta, name)));
    const before = await snapshot(f.feedDir);
    const next = await f.tarball("decnet-1.1.0.tar.gz", "next");
    await assert.rejects(f.publish({ tarball: next, version: "1.1.0", sha: "ddddddd4" }), {
      code: "E_PUBLISH",
      message: /is not the one this key last signed for it \(serial 1, /,
    });
    assert.deepEqual(await snapshot(f.feedDir), before);
    // An operator who did sign it by other means says so.
    const taken = await f.publish({
      tarball: next,
      version: "1.1.0",
      sha: "ddddddd4",
      channel: "beta",
      signedElsewhere: true,
    });
    assert.equal(taken.manifest.serial, 3);
  });

  test("point 1: a removed manifest.json is refused, not taken for an empty feed", async (t) => {
    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    await rm(join(f.feedDir, "manifest.json"));
    await f.refuses(null, {
      message:
        "publish: the feed has manifest.json.minisig but no manifest.json: someone removed it; restore it",
    });
    await rm(join(f.feedDir, "manifest.json.minisig"));
    await f.refuses(null, {
      message: `publish: ${join(f.feedDir, "manifest.json")} is missing, but this key last signed serial 1 for this feed (${join(f.dir, "keys/published.json")}); restore the feed, or remove its entry from the record to start it over`,
    });
  });

  test("point 1: after a key rotation the old key is accepted with --trusted-key, and only then", async (t) => {
    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    const next = await makeSigner(join(f.dir, "next-keys"));
    const two = await f.tarball("decnet-1.1.0.tar.gz", "two");
    await f.refuses(
      { tarball: two, version: "1.1.0", sha: "bbbbbbb2", keyFile: next.keyFile },
      { message: /is not among the trusted keys/ },
    );
    const old = parsePublicKey(await readFile(f.signer.pubFile, "utf8"), "old");
    const { manifest } = await f.publish({
      tarball: two,
      version: "1.1.0",
      sha: "bbbbbbb2",
      keyFile: next.keyFile,
      trustedKeys: [old],
    });
    assert.equal(manifest.serial, 2);
  });

  test("point 2: a serial that cannot be incremented is refused by hosts and by publish", async (t) => {
    const h = await hostFixture(t);
    const atEdge = JSON.stringify(manifestDoc()).replace('"serial":10', `"serial":${2 ** 53 - 1}`);
    h.files.current = signedFeed(h.signer, Buffer.from(atEdge));
    const stateBefore = await accepted(h.dirs.stateDir);
    await assert.rejects(runCheck(await loadAgentConfig(h.dirs), agentDeps()), {
      code: "E_MANIFEST",
      message:
        "manifest: serial: expected an integer from 0 to 9007199254740990 (so it can be incremented), found 9007199254740991",
    });
    assert.deepEqual(await accepted(h.dirs.stateDir), stateBefore);

    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    // The key holder's own tool signed the edge serial: hosts refuse it, and so does publish.
    const { signData, parseSecretKey } = await import("../../src/signing/secret-key.js");
    const sk = parseSecretKey(await readFile(f.signer.keyFile, "utf8"), "key");
    const path = join(f.feedDir, "manifest.json");
    const edited = (await readFile(path, "utf8")).replace(
      '"serial": 1',
      `"serial": ${2 ** 53 - 1}`,
    );
    await writeFile(path, edited);
    await writeFile(`${path}.minisig`, signData(sk, Buffer.from(edited), "timestamp:1"));
    await f.refuses(null, {
      message:
        "publish: the feed's signed manifest.json breaks the manifest rules (manifest: serial: expected an integer from 0 to 9007199254740990 (so it can be incremented), found 9007199254740991)",
    });
  });

  test("point 3: publish never overwrites a file the signed manifest names, nor its own manifest or signature", async (t) => {
    const f = await feedFixture(t);
    await f.publish({ tarball: await f.tarball("decnet-1.0.0.tar.gz", "one") });
    for (const name of ["manifest.json", "manifest.json.minisig", ".hidden.tar.gz"]) {
      await assert.rejects(
        f.publish({
          tarball: await f.tarball(name, "not a release"),
          version: "2.0.0",
          sha: "ccccccc3",
        }),
        {
          code: "E_USAGE",
          message: `--tarball: expected a file name a feed can serve (not manifest.json, manifest.json.minisig or a hidden name; no white space, '%', '?' or '#'), found ${JSON.stringify(name)}`,
        },
      );
    }
    // The same version rebuilt into the same file name: hosts verified the old bytes.
    await f.refuses(
      { tarball: await f.tarball("decnet-1.0.0.tar.gz", "rebuilt"), sha: "ddddddd4" },
      {
        message:
          /^publish: decnet-1\.0\.0\.tar\.gz is the tarball of release 1\.0\.0 in the signed manifest \(sha256 [0-9a-f]{12}\.\.\.\); hosts verified those bytes, so a new build needs another file name \(found sha256 [0-9a-f]{12}\.\.\.\)$/,
      },
    );
    // The same bytes again (a rollout change) are not rewritten: the verified file keeps its mtime.
    const mtime = (await stat(join(f.feedDir, "decnet-1.0.0.tar.gz"))).mtimeMs;
    await f.tarball("decnet-1.0.0.tar.gz", "one");
    const { manifest } = await f.publish({
      tarball: join(f.dir, "decnet-1.0.0.tar.gz"),
      rolloutPercent: 10,
    });
    assert.equal(manifest.releases[0]?.rollout.percent, 10);
    assert.equal((await stat(join(f.feedDir, "decnet-1.0.0.tar.gz"))).mtimeMs, mtime);
  });

  test("point 4: the updater feed's manifest served at the app feed URL is refused and nothing is stored", async (t) => {
    const h = await hostFixture(t);
    h.files.current = signedFeed(
      h.signer,
      manifestDoc({ component: "decnet-updater", serial: 500 }),
    );
    const stateBefore = await accepted(h.dirs.stateDir);
    await assert.rejects(runCheck(await loadAgentConfig(h.dirs), agentDeps()), {
      code: "E_MANIFEST",
      message: `manifest: component: expected "decnet" (the feed at ${h.server.url}/feed), found "decnet-updater"`,
    });
    assert.deepEqual(await accepted(h.dirs.stateDir), stateBefore);
    // The real app feed, at a lower serial, is still accepted afterwards.
    h.files.current = signedFeed(h.signer, manifestDoc({ component: "decnet", serial: 3 }));
    assert.equal((await runCheck(await loadAgentConfig(h.dirs), agentDeps())).manifest_serial, 3);
  });

  test("point 4: once a manifest named its component, an unnamed (older) one is refused", async (t) => {
    const h = await hostFixture(t);
    h.files.current = signedFeed(h.signer, manifestDoc({ component: "decnet", serial: 3 }));
    await runCheck(await loadAgentConfig(h.dirs), agentDeps());
    h.files.current = signedFeed(h.signer, manifestDoc({ serial: 4 }));
    const stateBefore = await accepted(h.dirs.stateDir);
    await assert.rejects(runCheck(await loadAgentConfig(h.dirs), agentDeps()), {
      code: "E_MANIFEST",
      message:
        'manifest: component: expected "decnet", found nothing (this host accepted a manifest naming its component from this feed before; an unnamed one is refused)',
    });
    assert.deepEqual(await accepted(h.dirs.stateDir), stateBefore);
  });

  test("point 4: publish writes the component, keeps it, refuses to change it, and asks once on an older feed", async (t) => {
    const f = await feedFixture(t);
    const one = await f.tarball("decnet-updater-1.0.0.tar.gz", "one");
    const { manifest } = await f.publish({ tarball: one, component: "decnet-updater" });
    assert.equal(manifest.component, "decnet-updater");
    const two = await f.tarball("decnet-updater-1.1.0.tar.gz", "two");
    await f.refuses(
      { tarball: two, version: "1.1.0", sha: "bbbbbbb2", component: "decnet" },
      {
        message: `publish: feed ${f.feedDir} is for "decnet-updater", --component says "decnet"`,
      },
    );
    assert.equal(
      (await f.publish({ tarball: two, version: "1.1.0", sha: "bbbbbbb2" })).manifest.component,
      "decnet-updater",
    );
    // A feed signed before the field existed (by a publish that kept no record): the operator names it once.
    await rm(join(f.dir, "keys/published.json"));
    const { signData, parseSecretKey } = await import("../../src/signing/secret-key.js");
    const sk = parseSecretKey(await readFile(f.signer.keyFile, "utf8"), "key");
    const path = join(f.feedDir, "manifest.json");
    const legacy = (await readFile(path, "utf8")).replace('  "component": "decnet-updater",\n', "");
    await writeFile(path, legacy);
    await writeFile(`${path}.minisig`, signData(sk, Buffer.from(legacy), "timestamp:1"));
    const three = await f.tarball("decnet-updater-1.2.0.tar.gz", "three");
    await f.refuses(
      { tarball: three, version: "1.2.0", sha: "ccccccc3" },
      {
        message: `publish: the manifest of feed ${f.feedDir} names no component (an older publish wrote it); say once what the feed is for with --component decnet or --component decnet-updater`,
      },
    );
    const named = await f.publish({
      tarball: three,
      version: "1.2.0",
      sha: "ccccccc3",
      component: "decnet-updater",
    });
    assert.equal(named.manifest.component, "decnet-updater");
  });

  test("point 5: a key removed from feed.trusted_keys stops counting at the next cycle, 304 included", async (t) => {
    const h = await hostFixture(t, (s) => [s.pubLine]);
    await h.write([h.signer.pubLine, h.other.pubLine]);
    h.files.current = signedFeed(h.other, manifestDoc({ serial: 7 }));
    const first = await runCheck(await loadAgentConfig(h.dirs), agentDeps());
    assert.equal(first.status, "update_available");
    // The other key is rotated out; the master still answers 304 to the stored ETag.
    await h.write([h.signer.pubLine]);
    const stateBefore = await accepted(h.dirs.stateDir);
    const requests = h.server.requests.length;
    await assert.rejects(runCheck(await loadAgentConfig(h.dirs), agentDeps()), {
      code: "E_SIGNATURE",
      message: /^signature key id [0-9A-F]{16} is not among the trusted keys \([0-9A-F]{16}\)$/,
    });
    // The stored pair did not verify, so the manifest was asked for whole: no If-None-Match.
    const asked = h.server.requests.slice(requests).filter((r) => r.path === "/feed/manifest.json");
    assert.deepEqual(
      asked.map((r) => r.headers["if-none-match"] ?? null),
      [null],
    );
    assert.deepEqual(await accepted(h.dirs.stateDir), stateBefore);
  });
});

describe("attacker (c): release URLs stay on the feed", () => {
  for (const url of [
    " http:127.0.0.1:PORT/x.tar.gz",
    " file:etc/passwd",
    "\thttp:127.0.0.1:PORT/x",
    "a b.tar.gz",
  ]) {
    test(`point 6: a release url ${JSON.stringify(url)} is refused at acceptance and no other origin is asked`, async (t) => {
      const other: string[] = [];
      const plain = createServer((req, res) => {
        other.push(req.url ?? "");
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
      t.after(() => new Promise<void>((r) => plain.close(() => r())));
      const port = (plain.address() as AddressInfo).port;
      const dir = await tempDir(t, "du-sec-url-");
      const pki = makePki(dir);
      const signer = await makeSigner(join(dir, "key"));
      const served = url.replace("PORT", String(port));
      let files = signedFeed(
        signer,
        manifestDoc({
          latest: "2.0.0",
          releases: [
            release("1.0.0", "1000000aaaa"),
            release("2.0.0", "2000000bbbb", { url: served }),
          ],
        }),
      );
      const server = await startMtlsServer(pki, (req, res) => staticFiles(files)(req, res));
      t.after(() => server.close());
      const dirs = await runningHost(dir, pki, signer, `${server.url}/feed`, {
        limits: { max_updates_per_day: 100 },
      });
      const install = await snapshot(dirs.installDir);
      const stateBefore = await accepted(dirs.stateDir);
      const result = await runUpdate(await loadAgentConfig(dirs), agentDeps(), {
        force: false,
      }).catch((error) => error);
      assert.equal(result.code, "E_MANIFEST");
      assert.equal(
        result.message,
        `manifest: releases[1].url: expected a relative path without '..', a scheme, white space or a control character, found ${JSON.stringify(served)}`,
      );
      assert.deepEqual(other, []);
      assert.deepEqual(await snapshot(dirs.installDir), install);
      assert.deepEqual(await accepted(dirs.stateDir), stateBefore);
      files = new Map();
    });
  }
});
