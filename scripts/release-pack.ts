/**
 * `npm run release:pack [-- --out DIR]`: the updater's own release tarball
 * (SPEC section 12), for `decnet-updater publish` into an updater feed.
 *
 * It holds the compiled program, its production dependencies (installed
 * from the lockfile, offline when npm's cache has them), the systemd units,
 * the launcher (installed once, outside the slots) and the example
 * configuration: a host runs it with `node` and needs no
 * registry. It must pass the updater's own extraction policy, so
 * node_modules/.bin (symlinks) is left out and any other link refuses the
 * pack. The archive is reproducible: sorted names, owner 0, mtime from
 * SOURCE_DATE_EPOCH or the last commit, gzip without a name or time.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { bundleProgram } from "./bundle.js";

const REPO = resolve(import.meta.dirname, "..");

export interface PackedRelease {
  tarball: string;
  version: string;
  /** The commit it was built from (the manifest's `sha`). */
  sha: string;
  size: number;
  sha256: string;
}

function run(file: string, args: string[], cwd: string): string {
  return execFileSync(file, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Every path below `dir` that is not a plain file or folder. */
async function oddEntries(dir: string): Promise<string[]> {
  const odd: string[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await lstat(path);
    if (info.isDirectory()) odd.push(...(await oddEntries(path)));
    else if (!info.isFile()) odd.push(path);
  }
  return odd;
}

/** Compiled add-ons (.node files): a host's release must have none (issue 18). */
async function nativeModules(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await lstat(path);
    if (info.isDirectory()) found.push(...(await nativeModules(path)));
    else if (name.endsWith(".node")) found.push(path);
  }
  return found;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Sets the version in the staged package.json and lockfile (the version the release reports). */
async function stampVersion(stage: string, version: string): Promise<void> {
  const pkg = JSON.parse(await readFile(join(stage, "package.json"), "utf8"));
  pkg.version = version;
  await writeFile(join(stage, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  const lock = JSON.parse(await readFile(join(stage, "package-lock.json"), "utf8"));
  lock.version = version;
  if (lock.packages?.[""]) lock.packages[""].version = version;
  await writeFile(join(stage, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
}

/**
 * `options.version` overrides package.json's version in the release (a
 * pre-release build, or tests that need two releases of one commit).
 */
export async function packRelease(
  outDir: string,
  options: { version?: string } = {},
): Promise<PackedRelease> {
  const own = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as {
    version: string;
  };
  const version = options.version ?? own.version;
  const sha = run("git", ["rev-parse", "HEAD"], REPO).trim();
  const epoch =
    process.env.SOURCE_DATE_EPOCH ?? run("git", ["log", "-1", "--format=%ct"], REPO).trim();
  const work = await mkdtemp(join(tmpdir(), "du-release-pack-"));
  try {
    const stage = join(work, `decnet-updater-${version}`);
    await mkdir(stage);
    // compiled straight into the stage: the working tree's dist/ is left alone
    run(
      join(REPO, "node_modules/.bin/tsc"),
      [
        "-p",
        join(REPO, "tsconfig.build.json"),
        "--outDir",
        join(stage, "dist"),
        "--sourceMap",
        "false",
      ],
      REPO,
    );
    // The master's part (issue 18) is not a host's: its commands say so in one line.
    await rm(join(stage, "dist/src/master"), { recursive: true, force: true });
    for (const path of [
      "package.json",
      "package-lock.json",
      "systemd",
      "launcher",
      "config/updater.example.toml",
    ])
      await cp(join(REPO, path), join(stage, path), { recursive: true });
    if (version !== own.version) await stampVersion(stage, version);
    run(
      "npm",
      // --omit=optional: the master's database drivers (better-sqlite3, a native
      // module, and pg) are optional dependencies that a host never needs.
      [
        "ci",
        "--omit=dev",
        "--omit=optional",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
      ],
      stage,
    );
    // the program as hosts run it, bundled from the stage's own packages (scripts/bundle.ts)
    await bundleProgram(join(stage, "dist"));
    // links to the packages' command-line tools; the updater's extraction refuses links
    await rm(join(stage, "node_modules/.bin"), { recursive: true, force: true });
    const native = await nativeModules(stage);
    if (native.length > 0)
      throw new Error(
        `release:pack: a host's release carries no native module, found ${native.map((p) => relative(stage, p)).join(", ")}`,
      );
    const odd = await oddEntries(stage);
    if (odd.length > 0) {
      throw new Error(
        `release:pack: not a plain file or folder, the updater would refuse the release: ${odd.map((p) => relative(stage, p)).join(", ")}`,
      );
    }
    await mkdir(outDir, { recursive: true });
    const tarball = join(outDir, `decnet-updater-${version}.tar.gz`);
    execFileSync(
      "sh",
      [
        "-c",
        'tar --sort=name --format=posix --pax-option=delete=atime,delete=ctime --mtime="@$1" --owner=0 --group=0 --numeric-owner -C "$2" -cf - . | gzip -9n > "$3"',
        "sh",
        epoch,
        stage,
        tarball,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    return {
      tarball,
      version,
      sha,
      size: (await stat(tarball)).size,
      sha256: await sha256Of(tarball),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("release-pack.ts")) {
  const flag = (name: string) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  const out = resolve(flag("--out") ?? "release");
  const version = flag("--version");
  const packed = await packRelease(out, version === undefined ? {} : { version });
  console.log(`${packed.tarball}
  version ${packed.version}, commit ${packed.sha}
  ${packed.size} bytes, sha256 ${packed.sha256}
publish it into the updater's feed with:
  decnet-updater publish --feed FEED_DIR --tarball ${packed.tarball} --version ${packed.version} --sha ${packed.sha} --key KEY`);
}
