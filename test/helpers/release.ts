/**
 * Real DECNET-shaped releases for end-to-end tests: wheels of the fixture
 * agent (built offline by test/fixtures/agent/make_wheel.py), unit files, a
 * .tar.gz made by node-tar, published into a feed folder with `publish`.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import * as tar from "tar";
import { publishRelease } from "../../src/feed/publish.js";

const MAKE_WHEEL = resolve(import.meta.dirname, "../fixtures/agent/make_wheel.py");

export interface ReleaseSpec {
  version: string;
  sha: string;
  health?: "ok" | "broken" | "crash";
  /** Adds the decnet-helper wheel and makes decnet require it. */
  withHelper?: boolean;
  /** etc/systemd/system/<name> -> content */
  units?: Record<string, string>;
  /** Leaves the wheels out, so the install command fails. */
  noWheels?: boolean;
  /**
   * Packs the tree with the modes of a careless checkout: folders 0777,
   * files 0666 (0777 for bin/run), and a setuid helper (issue 15, attacker c).
   */
  oddModes?: boolean;
}

/** chmods a built tree as a careless release author's checkout would have it. */
async function oddenModes(root: string): Promise<void> {
  await mkdir(join(root, "bin"), { recursive: true });
  await writeFile(join(root, "bin/run"), "#!/bin/sh\nexit 0\n");
  await chmod(join(root, "bin/run"), 0o4777);
  const walk = async (dir: string): Promise<void> => {
    await chmod(dir, 0o777);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (path !== join(root, "bin/run")) await chmod(path, 0o666);
    }
  };
  await walk(root);
}

export async function buildReleaseTarball(workDir: string, spec: ReleaseSpec): Promise<string> {
  const root = join(workDir, `release-${spec.version}-${spec.sha.slice(0, 7)}`);
  await mkdir(join(root, "wheels"), { recursive: true });
  if (!spec.noWheels) {
    const args = [
      MAKE_WHEEL,
      "--out",
      join(root, "wheels"),
      "--version",
      spec.version,
      "--sha",
      spec.sha,
      "--health",
      spec.health ?? "ok",
    ];
    if (spec.withHelper) args.push("--helper", "--requires", "decnet-helper");
    execFileSync("python3", args);
  }
  await writeFile(join(root, "README"), `fixture DECNET release ${spec.version}\n`);
  if (spec.units) {
    await mkdir(join(root, "etc/systemd/system"), { recursive: true });
    for (const [name, text] of Object.entries(spec.units))
      await writeFile(join(root, "etc/systemd/system", name), text);
  }
  if (spec.oddModes) await oddenModes(root);
  const built = join(workDir, `decnet-${spec.version}-${spec.sha.slice(0, 7)}.build.tar.gz`);
  // portable mode would mask group and other write off the modes: not for a careless checkout.
  await tar.c({ gzip: true, file: built, cwd: root, portable: !spec.oddModes }, ["."]);
  // Named by its content too: publish never rewrites a tarball a signed manifest names, so a
  // rebuild of the same version needs a name of its own (docs/security.md, b).
  const digest = createHash("sha256")
    .update(await readFile(built))
    .digest("hex")
    .slice(0, 8);
  const tarball = join(workDir, `decnet-${spec.version}-${spec.sha.slice(0, 7)}-${digest}.tar.gz`);
  await rename(built, tarball);
  return tarball;
}

export async function publishSpec(
  workDir: string,
  feedDir: string,
  keyFile: string,
  spec: ReleaseSpec,
  options: { latest?: boolean } = {},
): Promise<void> {
  const tarball = await buildReleaseTarball(workDir, spec);
  await publishRelease({
    feedDir,
    tarball,
    version: spec.version,
    sha: spec.sha,
    keyFile,
    latest: options.latest ?? true,
    rolloutPercent: 100,
    expiresInS: 86400,
    now: new Date(),
  });
}

/** A TCP port free right now on 127.0.0.1, for the fixture agent. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
