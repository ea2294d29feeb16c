/**
 * Release trees for the benchmarks: a mix of file sizes and kinds shaped
 * like a Python application with vendored binaries, made quickly and kept
 * in bench/.cache so a second run does not pay for them again.
 *
 * Mix (by count): 75 % small text files (0.5-16 KiB, like .py sources),
 * 20 % medium files (16 KiB-1 MiB, half text, half incompressible), 5 %
 * large incompressible files (1-16 MiB, like .so and model files).
 * Text compresses about 4:1 with gzip -6, as source code does.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MiB } from "./measure.js";
import { prng } from "./prng.js";

export const CACHE_DIR = resolve(import.meta.dirname, "../.cache");
const MAKE_WHEEL = resolve(import.meta.dirname, "../../test/fixtures/agent/make_wheel.py");

const WORDS =
  "def class return import from self None True False if elif else for while in not and or try except finally with as yield lambda async await value result config path name data items index count error logger request response handler session buffer offset length payload".split(
    " ",
  );

/** One MiB of source-like text; text files are slices of it, so they compress like code. */
function textCorpus(random: () => number): Buffer {
  const lines: string[] = [];
  let size = 0;
  while (size < MiB) {
    const indent = "    ".repeat(Math.floor(random() * 4));
    const count = 2 + Math.floor(random() * 9);
    const words = Array.from({ length: count }, () => WORDS[Math.floor(random() * WORDS.length)]);
    const line = `${indent}${words.join(" ")}${random() < 0.3 ? `  # ${Math.floor(random() * 1e6)}` : ""}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, MiB);
}

function between(random: () => number, low: number, high: number): number {
  // log-uniform: as many files of 1-2 KiB as of 8-16 KiB
  return Math.round(Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low))));
}

export interface TreeStats {
  files: number;
  bytes: number;
}

/** Writes about `totalBytes` of files under `root`. */
export async function writeMixedTree(
  root: string,
  totalBytes: number,
  seed = 7,
): Promise<TreeStats> {
  const random = prng(seed);
  const corpus = textCorpus(random);
  let bytes = 0;
  let files = 0;
  while (bytes < totalBytes) {
    const roll = random();
    let body: Buffer;
    if (roll < 0.75) {
      const size = between(random, 512, 16 * 1024);
      const at = Math.floor(random() * (corpus.length - size));
      body = corpus.subarray(at, at + size);
    } else if (roll < 0.95) {
      const size = between(random, 16 * 1024, MiB);
      body =
        random() < 0.5
          ? randomBytes(size)
          : corpus
              .subarray(Math.floor(random() * (corpus.length - size)), undefined)
              .subarray(0, size);
    } else {
      body = randomBytes(between(random, MiB, 16 * MiB));
    }
    body = body.subarray(0, Math.min(body.length, totalBytes - bytes + 1));
    const dir = join(root, "lib", `pkg${files % 97}`, `mod${files % 13}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${files}.${roll < 0.75 ? "py" : "bin"}`), body);
    bytes += body.length;
    files++;
  }
  return { files, bytes };
}

export interface BenchRelease {
  /** The .tar.gz, made by GNU tar with gzip -6 (what a publisher would run). */
  tarball: string;
  tarballBytes: number;
  files: number;
  unpackedBytes: number;
}

/**
 * A release of about `totalBytes` with the fixture agent's wheels (so a real
 * `update` installs and starts it), cached under bench/.cache/<name>.
 */
export async function benchRelease(
  name: string,
  totalBytes: number,
  agent: { version: string; sha: string },
  tree: (root: string) => Promise<TreeStats> = (root) => writeMixedTree(root, totalBytes),
  options: { folderEntries?: boolean } = {},
): Promise<BenchRelease> {
  const dir = join(CACHE_DIR, name);
  const tarball = join(dir, `decnet-${agent.version}.tar.gz`);
  const statsFile = join(dir, "stats.json");
  if (existsSync(statsFile) && existsSync(tarball)) {
    const { readFile } = await import("node:fs/promises");
    return JSON.parse(await readFile(statsFile, "utf8")) as BenchRelease;
  }
  await rm(dir, { recursive: true, force: true });
  const root = join(dir, "tree");
  await mkdir(join(root, "wheels"), { recursive: true });
  execFileSync("python3", [
    MAKE_WHEEL,
    "--out",
    join(root, "wheels"),
    "--version",
    agent.version,
    "--sha",
    agent.sha,
  ]);
  const stats = await tree(root);
  if (options.folderEntries === false) {
    // files only, as DECNET's tarball builder writes them: extractors make the folders
    const list = join(dir, "files.txt");
    execFileSync("sh", ["-c", `cd "$1" && find . -type f | sort > "$2"`, "sh", root, list]);
    execFileSync("tar", ["-C", root, "-czf", `${tarball}.tmp`, "--no-recursion", "-T", list]);
    await rm(list);
  } else {
    execFileSync("tar", ["-C", root, "-czf", `${tarball}.tmp`, "."]);
  }
  await rename(`${tarball}.tmp`, tarball);
  await rm(root, { recursive: true, force: true });
  const release: BenchRelease = {
    tarball,
    tarballBytes: (await stat(tarball)).size,
    files: stats.files,
    unpackedBytes: stats.bytes,
  };
  await writeFile(statsFile, JSON.stringify(release));
  return release;
}

/**
 * A DECNET-sized tree: `files` source-like text files making about
 * `totalBytes` in all (the real agent is about 1,500 files and 5 MiB).
 */
export async function writeSourceTree(
  root: string,
  files: number,
  totalBytes: number,
  seed = 11,
): Promise<TreeStats> {
  const random = prng(seed);
  const corpus = textCorpus(random);
  const average = totalBytes / files;
  let bytes = 0;
  for (let index = 0; index < files; index++) {
    // sizes from a quarter to twice the average, so the total lands near totalBytes
    const size = Math.max(64, Math.round(average * (0.25 + random() * 1.75)));
    const at = Math.floor(random() * (corpus.length - size));
    const dir = join(root, "decnet", `pkg${index % 41}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `m${index}.py`), corpus.subarray(at, at + size));
    bytes += size;
  }
  return { files, bytes };
}

/**
 * The real DECNET 1.2.1 release's shape, as its tarball builder makes it:
 * 817 files (816 sources here, plus the fixture agent's wheel), 4.8 MB
 * unpacked, 1.36 MB gzipped. Mostly source text, with about 3 % of the bytes
 * incompressible (icons, a vendored binary) to land on its gzip ratio.
 */
export async function writeDecnetTree(root: string, seed = 13): Promise<TreeStats> {
  const random = prng(seed);
  const corpus = textCorpus(random);
  const files = 816;
  const totalBytes = 4_800_000;
  const randomEvery = 27; // one file in 27 is binary: ~3 % of the files, and of the bytes
  const average = totalBytes / files;
  let bytes = 0;
  for (let index = 0; index < files; index++) {
    // a quarter to 1.75 times the average: the mean is the average
    const size = Math.max(64, Math.round(average * (0.25 + random() * 1.5)));
    const binary = index % randomEvery === 0;
    const dir = join(root, "decnet", `pkg${index % 37}`, `sub${index % 5}`);
    await mkdir(dir, { recursive: true });
    const at = Math.floor(random() * (corpus.length - size));
    await writeFile(
      join(dir, binary ? `asset${index}.bin` : `m${index}.py`),
      binary ? randomBytes(size) : corpus.subarray(at, at + size),
    );
    bytes += size;
  }
  return { files, bytes };
}
