/**
 * A feed folder, a signing key and tarballs made at run time, and `publish`
 * with the usual options: for the publish tests and the master-side attacks.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type PublishOptions, publishRelease } from "../../src/feed/publish.js";
import { makeSigner, type Signer } from "./feed.js";
import { snapshot } from "./snapshot.js";
import { tempDir } from "./tmp.js";

export interface PublishFixture {
  dir: string;
  signer: Signer;
  feedDir: string;
  /** Writes a file of `content` named `name` beside the feed and returns its path. */
  tarball(name: string, content: string): Promise<string>;
  publish(overrides: Partial<PublishOptions>): ReturnType<typeof publishRelease>;
  /**
   * `publish` with `overrides` (by default the next release, 1.1.0) is refused
   * as `expected`, and the feed folder is byte for byte what it was.
   */
  refuses(
    overrides: Partial<PublishOptions> | null,
    expected: { code?: string; message: string | RegExp },
  ): Promise<void>;
}

export async function publishFixture(
  t: Parameters<typeof tempDir>[0],
  now: Date,
  prefix = "du-",
): Promise<PublishFixture> {
  const dir = await tempDir(t, prefix);
  const signer = await makeSigner(join(dir, "keys"));
  const feedDir = join(dir, "feed");
  const tarball = async (name: string, content: string) => {
    await writeFile(join(dir, name), content);
    return join(dir, name);
  };
  const publish = (overrides: Partial<PublishOptions>) =>
    publishRelease({
      feedDir,
      tarball: "",
      version: "1.0.0",
      sha: "aaaaaaa1",
      keyFile: signer.keyFile,
      latest: false,
      rolloutPercent: 100,
      expiresInS: 14 * 86400,
      now,
      ...overrides,
    });
  return {
    dir,
    signer,
    feedDir,
    tarball,
    publish,
    async refuses(overrides, expected) {
      const options = overrides ?? {
        tarball: await tarball("decnet-1.1.0.tar.gz", "two"),
        version: "1.1.0",
        sha: "bbbbbbb2",
      };
      const before = await snapshot(feedDir);
      await assert.rejects(publish(options), { code: "E_PUBLISH", ...expected });
      assert.deepEqual(await snapshot(feedDir), before, "publish changed the feed it refused");
    },
  };
}
