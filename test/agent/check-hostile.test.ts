/**
 * Hostile manifests (SPEC section 4): each is served by a real mTLS server
 * and must be refused with its exact error, leaving the install dir, the
 * accepted serial and the stored manifest as they were.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCheck } from "../../src/agent/check.js";
import { agentDeps } from "../helpers/deps.js";
import {
  installActive,
  loadAgentConfig,
  makeSigner,
  manifestDoc,
  release,
  type Signer,
  signedFeed,
  writeAgentConfig,
} from "../helpers/feed.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";
import { assertTrustedTree } from "../helpers/trusted-tree.js";

let root: string;
let pki: Pki;
let signer: Signer;
let otherSigner: Signer;
let server: TestServer;
let files = new Map<string, Buffer>();

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-hostile-"));
  pki = makePki(root);
  signer = await makeSigner(join(root, "key"));
  otherSigner = await makeSigner(join(root, "other-key"));
  server = await startMtlsServer(pki, (req, res) => staticFiles(files)(req, res));
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

interface HostileCase {
  name: string;
  /** Served before the hostile one and accepted, to set the host's serial. */
  accepted?: () => Map<string, Buffer>;
  served: () => Map<string, Buffer>;
  pin?: Record<string, string>;
  /** The manifest itself is valid (the refusal is about this host's config), so it is accepted. */
  validManifest?: boolean;
  code: string;
  message: RegExp;
}

const withRelease = (extra: Record<string, unknown>) =>
  signedFeed(
    signer,
    manifestDoc({
      releases: [release("1.0.0", "1000000aaaa"), release("1.1.0", "1100000bbbb", extra)],
    }),
  );

const cases: HostileCase[] = [
  {
    name: "a manifest changed after signing",
    served: () => {
      const feed = signedFeed(signer, manifestDoc());
      feed.set(
        "/feed/manifest.json",
        Buffer.from(JSON.stringify(manifestDoc({ latest: "1.0.0" }), null, 2)),
      );
      return feed;
    },
    code: "E_SIGNATURE",
    message: /^signature does not verify with key [0-9A-F]{16}$/,
  },
  {
    name: "a signature by a key that is not trusted",
    served: () => signedFeed(otherSigner, manifestDoc()),
    code: "E_SIGNATURE",
    message: /^signature key id [0-9A-F]{16} is not among the trusted keys \([0-9A-F]{16}\)$/,
  },
  {
    name: "an edited trusted comment",
    served: () => {
      const feed = signedFeed(signer, manifestDoc());
      const sig = (feed.get("/feed/manifest.json.minisig") as Buffer)
        .toString()
        .replace("timestamp:1", "timestamp:2");
      feed.set("/feed/manifest.json.minisig", Buffer.from(sig));
      return feed;
    },
    code: "E_SIGNATURE",
    message: /^trusted comment signature does not verify with key [0-9A-F]{16}$/,
  },
  {
    name: "a missing signature",
    served: () => new Map([["/feed/manifest.json", Buffer.from(JSON.stringify(manifestDoc()))]]),
    code: "E_HTTP_STATUS",
    message: /^signature https:\/\/127\.0\.0\.1:\d+\/feed\/manifest\.json\.minisig: HTTP 404$/,
  },
  {
    name: "a manifest over feed.max_manifest_bytes (refused unread)",
    served: () => signedFeed(signer, manifestDoc({ padding: "x".repeat(70_000) })),
    code: "E_TOO_LARGE",
    message: /^manifest .*: larger than 65536 bytes \(Content-Length \d+\)$/,
  },
  {
    name: "signed bytes that are not JSON",
    served: () => signedFeed(signer, Buffer.from("{not json")),
    code: "E_MANIFEST",
    message: /^manifest: not valid JSON \(/,
  },
  {
    name: "an unknown schema",
    served: () => signedFeed(signer, manifestDoc({ schema: 2 })),
    code: "E_MANIFEST",
    message: /^manifest: schema: expected 1, found 2$/,
  },
  {
    name: "another channel",
    served: () => signedFeed(signer, manifestDoc({ channel: "beta" })),
    code: "E_MANIFEST",
    message: /^manifest: channel: expected "stable" \(feed\.channel\), found "beta"$/,
  },
  {
    name: "an expired manifest (freeze attack)",
    served: () => signedFeed(signer, manifestDoc({ expires: "2026-01-01T00:00:00Z" })),
    code: "E_EXPIRED",
    message: /^manifest: expired at 2026-01-01T00:00:00Z \(now \d{4}-/,
  },
  {
    name: "a serial below the highest accepted (replay)",
    accepted: () => signedFeed(signer, manifestDoc({ serial: 10 })),
    served: () => signedFeed(signer, manifestDoc({ serial: 9 })),
    code: "E_SERIAL",
    message:
      /^manifest: serial 9 is below the highest accepted 10 \(replayed or rolled-back feed\)$/,
  },
  {
    name: "the same serial with other bytes",
    accepted: () => signedFeed(signer, manifestDoc({ serial: 10 })),
    served: () => signedFeed(signer, manifestDoc({ serial: 10, latest: "1.0.0" })),
    code: "E_SERIAL",
    message:
      /^manifest: serial 10 was accepted before with other content \(sha256 [0-9a-f]{12}\.\.\., found [0-9a-f]{12}\.\.\.\)$/,
  },
  {
    name: "a version that is not semver",
    served: () => withRelease({ version: "v1.1" }),
    code: "E_MANIFEST",
    message:
      /^manifest: releases\[1\]\.version: expected a semver version like 1\.2\.3, found "v1\.1"$/,
  },
  {
    name: "a sha256 that is not 64 hex characters",
    served: () => withRelease({ sha256: "abc" }),
    code: "E_MANIFEST",
    message: /^manifest: releases\[1\]\.sha256: expected 64 lowercase hex characters, found "abc"$/,
  },
  {
    name: "a size that is not an integer",
    served: () => withRelease({ size: 12.5 }),
    code: "E_MANIFEST",
    message: /^manifest: releases\[1\]\.size: expected an integer >= 0, found 12\.5$/,
  },
  {
    name: "a url that climbs out with ..",
    served: () => withRelease({ url: "../../etc/passwd" }),
    code: "E_MANIFEST",
    message:
      /^manifest: releases\[1\]\.url: expected a relative path without '\.\.', a scheme, white space or a control character, found "\.\.\/\.\.\/etc\/passwd"$/,
  },
  {
    name: "a url on another origin",
    served: () => withRelease({ url: "https://evil.example/decnet.tar.gz" }),
    code: "E_MANIFEST",
    message: /^manifest: releases\[1\]\.url: expected a relative path/,
  },
  {
    name: "an absolute url path",
    served: () => withRelease({ url: "/decnet.tar.gz" }),
    code: "E_MANIFEST",
    message: /^manifest: releases\[1\]\.url: expected a relative path/,
  },
  {
    name: "two releases with one version",
    served: () => withRelease({ version: "1.0.0" }),
    code: "E_MANIFEST",
    message: /^manifest: two releases have the same version 1\.0\.0$/,
  },
  {
    name: "two releases with one sha",
    served: () => withRelease({ sha: "1000000aaaa" }),
    code: "E_MANIFEST",
    message: /^manifest: two releases have the same sha 1000000aaaa$/,
  },
  {
    name: "a latest that names no release",
    served: () => signedFeed(signer, manifestDoc({ latest: "9.9.9" })),
    code: "E_MANIFEST",
    message: /^manifest: latest: expected the version of one of the releases, found "9\.9\.9"$/,
  },
  {
    name: "a serial beyond the safe integers",
    served: () =>
      signedFeed(
        signer,
        Buffer.from(JSON.stringify(manifestDoc()).replace('"serial":10', '"serial":1e300')),
      ),
    code: "E_MANIFEST",
    message: /^manifest: serial: expected an integer from 0 to 9007199254740990, found 1e\+300$/,
  },
  {
    name: "mix-and-match: yesterday's valid signature served with today's manifest",
    served: () => {
      const old = signedFeed(signer, manifestDoc({ serial: 9, latest: "1.0.0" }));
      const today = signedFeed(signer, manifestDoc({ serial: 11 }));
      today.set("/feed/manifest.json.minisig", old.get("/feed/manifest.json.minisig") as Buffer);
      return today;
    },
    code: "E_SIGNATURE",
    message: /^signature does not verify with key [0-9A-F]{16}$/,
  },
  {
    name: "a signature by a revoked key (rotated out of feed.trusted_keys)",
    // the host trusted otherSigner once; its config now lists only the new key
    served: () => signedFeed(otherSigner, manifestDoc({ serial: 11 })),
    code: "E_SIGNATURE",
    message: /^signature key id [0-9A-F]{16} is not among the trusted keys \([0-9A-F]{16}\)$/,
  },
  {
    name: "a size of 1e300 bytes (a number JSON allows)",
    served: () =>
      signedFeed(
        signer,
        Buffer.from(JSON.stringify(manifestDoc()).replace('"size":1234', '"size":1e300')),
      ),
    code: "E_MANIFEST",
    message: /^manifest: releases\[0\]\.size: expected an integer >= 0, found 1e\+300$/,
  },
  {
    name: "a rollout percent of 1e308",
    served: () => withRelease({ rollout: { percent: 1e308 } }),
    code: "E_MANIFEST",
    message:
      /^manifest: releases\[1\]\.rollout\.percent: expected an integer from 0 to 100, found 1e\+308$/,
  },
  {
    name: "a min_updater that is a range, not a version",
    served: () => withRelease({ min_updater: ">=0.2" }),
    code: "E_MANIFEST",
    message: /^manifest: releases\[1\]\.min_updater: expected a semver version, found ">=0\.2"$/,
  },
  {
    name: "a version in fullwidth digits that looks like 1.2.0",
    served: () =>
      signedFeed(
        signer,
        manifestDoc({
          latest: "\uff11.\uff12.\uff10",
          releases: [
            release("1.0.0", "1000000aaaa"),
            release("\uff11.\uff12.\uff10", "1200000cccc"),
          ],
        }),
      ),
    code: "E_MANIFEST",
    message:
      /^manifest: releases\[1\]\.version: expected a semver version like 1\.2\.3, found "\uff11\.\uff12\.\uff10"$/,
  },
  {
    name: "a version with a Cyrillic letter that looks like 1.2.0-a",
    served: () =>
      signedFeed(
        signer,
        manifestDoc({
          latest: "1.2.0-\u0430",
          releases: [release("1.0.0", "1000000aaaa"), release("1.2.0-\u0430", "1200000cccc")],
        }),
      ),
    code: "E_MANIFEST",
    message:
      /^manifest: releases\[1\]\.version: expected a semver version like 1\.2\.3, found "1\.2\.0-\u0430"$/,
  },
  {
    name: "JSON nested 30 000 levels deep",
    served: () =>
      signedFeed(
        signer,
        Buffer.from(
          JSON.stringify(manifestDoc()).replace(
            '"schema":1',
            `"schema":1,"deep":${"[".repeat(30_000)}${"]".repeat(30_000)}`,
          ),
        ),
      ),
    code: "E_MANIFEST",
    message: /^manifest: JSON nested deeper than 16 levels \(at character \d+\)$/,
  },
  {
    name: "a pinned sha the manifest does not list",
    served: () => signedFeed(signer, manifestDoc()),
    pin: { sha: "deadbeef00" },
    validManifest: true,
    code: "E_PIN",
    message: /^pin\.sha deadbeef00 is not in manifest serial 10$/,
  },
];

describe("hostile manifests are refused and change nothing", () => {
  test(`the table has at least 15 kinds (${cases.length})`, () => assert.ok(cases.length >= 15));

  for (const hostile of cases) {
    test(`refuses ${hostile.name}`, async (t) => {
      const dir = await tempDir(t);
      const dirs = await writeAgentConfig(dir, pki, signer, `${server.url}/feed`, {
        feed: { max_manifest_bytes: 65536 } as never,
        ...(hostile.pin ? { pin: hostile.pin } : {}),
      });
      await installActive(dirs.installDir, "1000000aaaa", "1.0.0");
      const config = await loadAgentConfig(dirs);
      if (hostile.accepted) {
        files = hostile.accepted();
        await runCheck(config, agentDeps());
      }
      const installBefore = await snapshot(dirs.installDir);
      const stateBefore = await readState(dirs.stateDir);
      const storedBefore = await readFile(join(dirs.stateDir, "manifest.json")).catch(() => null);

      files = hostile.served();
      await assert.rejects(runCheck(config, agentDeps()), (error: Error & { code?: string }) => {
        assert.equal(error.code, hostile.code, error.message);
        assert.match(error.message, hostile.message);
        return true;
      });

      assert.deepEqual(await snapshot(dirs.installDir), installBefore);
      const stateAfter = await readState(dirs.stateDir);
      if (hostile.validManifest) assert.equal(stateAfter?.highest_serial, 10);
      else {
        assert.deepEqual(pickAcceptance(stateAfter), pickAcceptance(stateBefore));
        assert.deepEqual(
          await readFile(join(dirs.stateDir, "manifest.json")).catch(() => null),
          storedBefore,
        );
      }
      assert.equal(stateAfter?.last_check?.status, "error");
      await assertTrustedTree(dirs.installDir, dirs.stateDir);
    });
  }

  test("a __proto__ key in a release is plain data: nothing is polluted", async (t) => {
    const dir = await tempDir(t);
    const dirs = await writeAgentConfig(dir, pki, signer, `${server.url}/feed`);
    await installActive(dirs.installDir, "1000000aaaa", "1.0.0");
    files = signedFeed(
      signer,
      Buffer.from(
        JSON.stringify(manifestDoc()).replace(
          '"version":"1.1.0"',
          '"__proto__":{"polluted":true,"sha256":"00"},"version":"1.1.0"',
        ),
      ),
    );
    const result = await runCheck(await loadAgentConfig(dirs), agentDeps());
    assert.equal(result.status, "update_available");
    assert.equal(result.to?.version, "1.1.0");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.hasOwn(Object.prototype, "polluted"), false);
  });
});

async function readState(stateDir: string) {
  try {
    return JSON.parse(await readFile(join(stateDir, "state.json"), "utf8"));
  } catch {
    return null;
  }
}

/** What acceptance changes; last_check is allowed (and expected) to record the refusal. */
function pickAcceptance(
  state: { highest_serial?: number; manifest_sha256?: string; etag?: string } | null,
) {
  return {
    serial: state?.highest_serial ?? null,
    sha256: state?.manifest_sha256 ?? null,
    etag: state?.etag ?? null,
  };
}
