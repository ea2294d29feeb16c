/**
 * A feed folder, a signing key and tarballs made at run time, and `publish`
 * with the usual options: for the publish tests and the master-side attacks.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type PublishOptions, publishRelease } from "../../src/feed/publish.js";
import { makeSigner, type Signer } from "./feed.js";
import { tempDir } from "./tmp.js";

export interface PublishFixture {
  dir: string;
  signer: Signer;
  feedDir: string;
  /** Writes a file of `content` named `name` beside the feed and returns its path. */
  tarball(name: string, content: string): Promise<string>;
  publish(overrides: Partial<PublishOptions>): ReturnType<typeof publishRelease>;
}

export async function publishFixture(
  t: Parameters<typeof tempDir>[0],
  now: Date,
  prefix = "du-",
): Promise<PublishFixture> {
  const dir = await tempDir(t, prefix);
  const signer = await makeSigner(join(dir, "keys"));
  const feedDir = join(dir, "feed");
  return {
    dir,
    signer,
    feedDir,
    async tarball(name, content) {
      await writeFile(join(dir, name), content);
      return join(dir, name);
    },
    publish: (overrides) =>
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
      }),
  };
}
