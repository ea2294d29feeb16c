/**
 * pip for a new venv without ensurepip's cost. `python -m venv` spends most
 * of its 4-10 s in ensurepip: pip installing itself from its wheel and
 * compiling some 1,000 modules. The same files, already installed and
 * compiled, are kept once in state_dir/venv-seed/ (a venv ensurepip made,
 * which nothing else ever installs into), and each new venv, created with
 * `--without-pip`, gets a copy of them: under 0.2 s.
 *
 * Why a seed of our own and not the active release's venv: a release's
 * install may upgrade or break pip and setuptools in its venv (a pinned
 * dependency, a careless post-install), and the next release would then be
 * installed, and perhaps marked failed, by the previous release's pip. The
 * seed holds only what the interpreter's own ensurepip installed.
 *
 * This is what virtualenv's app-data seeder does; virtualenv is not on the
 * host (PyPI is out of reach there), so the copy is written here: every
 * file named in each distribution's RECORD (PEP 376), its sha256 checked
 * against the RECORD, its mtime kept so the compiled .pyc files stay valid,
 * and the console scripts (bin/pip...) given the new venv's interpreter the
 * way pip writes them. Anything unexpected makes the copy fail, and the
 * caller falls back to ensurepip.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, utimes } from "node:fs/promises";
import { dirname, join, normalize, relative, sep } from "node:path";
import { createExclusive } from "../../fs/exclusive.js";

/** The lines of pyvenv.cfg that name the interpreter (not `command`, which names the venv). */
const INTERPRETER_KEYS = ["home", "executable", "version", "version_info"];

/** Files copied at once: well under the updater's limit of open files. */
const PARALLEL = 16;

/** Written into the seed once it is built: a build cut short has none. */
export const SEED_COMPLETE = ".decnet-updater-seed";

/**
 * A seed is built again after this long. The interpreter's version does not
 * change when a distribution patches the pip or setuptools wheels ensurepip
 * installs (Debian's python3-pip-whl): a week bounds how long new venvs keep
 * the older pip, for one ensurepip run a week.
 */
export const SEED_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export class SeedRefused extends Error {}

interface SeedMark {
  built_at: string;
}

async function interpreterOf(venv: string): Promise<string> {
  const text = await readFile(join(venv, "pyvenv.cfg"), "utf8");
  const lines = text
    .split("\n")
    .map((line) => line.split("=").map((part) => part.trim()))
    .filter(([key]) => INTERPRETER_KEYS.includes(key as string))
    .map(([key, ...value]) => `${key}=${value.join("=")}`);
  return lines.sort().join("\n");
}

/** The one lib/pythonX.Y/site-packages (pypy3.Y for PyPy) of a venv, relative to it. */
async function sitePackages(venv: string): Promise<string> {
  const names = (await readdir(join(venv, "lib"))).filter((name) => /^(python|pypy)\d/.test(name));
  if (names.length !== 1)
    throw new SeedRefused(
      `${join(venv, "lib")}: expected one python* folder, found ${names.length}`,
    );
  return join("lib", names[0] as string, "site-packages");
}

/** The pip RECORD of a venv's site-packages, or null. */
async function pipRecord(venv: string, site: string): Promise<string | null> {
  const names = await readdir(join(venv, site));
  const dist = names.find((name) => /^pip-[^/]+\.dist-info$/.test(name));
  return dist ? join(venv, site, dist, "RECORD") : null;
}

/**
 * Whether the seed may be copied into `venv`: a real folder of ours that no
 * one else can enter (state_dir's trusted-dirs walk checks it too, at the
 * start of every command), complete, younger than SEED_MAX_AGE_MS, and made
 * by the interpreter that made `venv`.
 */
export async function seedFits(seed: string, venv: string, nowMs: number): Promise<boolean> {
  try {
    const info = await lstat(seed);
    const uid = process.geteuid?.() ?? 0;
    if (!info.isDirectory() || info.uid !== uid || (info.mode & 0o077) !== 0) return false;
    const [seedSite, venvSite] = await Promise.all([sitePackages(seed), sitePackages(venv)]);
    if (seedSite !== venvSite) return false;
    const mark = JSON.parse(await readFile(join(seed, SEED_COMPLETE), "utf8")) as SeedMark;
    const age = nowMs - Date.parse(mark.built_at);
    if (!(age >= 0 && age < SEED_MAX_AGE_MS)) return false;
    return (await interpreterOf(seed)) === (await interpreterOf(venv));
  } catch {
    return false;
  }
}

/** Marks a seed built (once ensurepip has installed everything in it). */
export async function markSeedComplete(seed: string, now: Date): Promise<void> {
  const mark: SeedMark = { built_at: now.toISOString() };
  await writeNew(join(seed, SEED_COMPLETE), Buffer.from(`${JSON.stringify(mark)}\n`), 0o600);
}

interface RecordEntry {
  path: string;
  sha256: string | null;
}

/** A RECORD's rows. Quoted rows (names with commas) are not read: ensurepip's never have them. */
function parseRecord(text: string, file: string): RecordEntry[] {
  const entries: RecordEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === "") continue;
    if (line.includes('"')) throw new SeedRefused(`${file}: a quoted row: ${line}`);
    const [path, hash] = line.split(",");
    if (!path) throw new SeedRefused(`${file}: a row with no path: ${line}`);
    if (hash && !hash.startsWith("sha256="))
      throw new SeedRefused(`${file}: ${path}: expected a sha256 hash, found ${hash}`);
    entries.push({ path, sha256: hash ? hash.slice("sha256=".length) : null });
  }
  return entries;
}

/**
 * The shebang pip (distlib's ScriptMaker) writes for `python`: a plain `#!`
 * line when it is at most 127 bytes and has no space, else a /bin/sh line
 * that execs it (and that Python reads as a string).
 */
function shebang(python: string): string {
  const plain = `#!${python}\n`;
  if (Buffer.byteLength(plain) <= 127 && !python.includes(" ")) return plain;
  const quoted = python.includes(" ") ? `"${python}"` : python;
  return `#!/bin/sh\n'''exec' ${quoted} "$0" "$@"\n' '''`;
}

/** The interpreter a script's shebang names: the plain form, or the /bin/sh form's exec. */
const SHEBANG_TARGET = [/^#!(\S+)\n/, /^#!\/bin\/sh\n'''exec' "?([^"\n]+?)"? "\$0"/];

/**
 * A seed script with its shebang made for the new venv: the seed's
 * interpreter, by whatever name venv gave it (bin/python3, bin/python3.11,
 * bin/platform-python), becomes the new venv's of the same name, which must
 * be there.
 */
async function retargetScript(
  body: Buffer,
  where: { seed: string; venv: string },
  file: string,
): Promise<Buffer> {
  const text = body.toString("utf8");
  const bin = join(where.seed, "bin");
  const named = SHEBANG_TARGET.map((pattern) => pattern.exec(text)?.[1]).find(Boolean);
  const name = named?.startsWith(`${bin}/`) ? named.slice(bin.length + 1) : "";
  const from = shebang(join(bin, name));
  if (name === "" || name.includes("/") || !text.startsWith(from))
    throw new SeedRefused(`${file}: its first line is not the seed's interpreter`);
  const python = join(where.venv, "bin", name);
  await lstat(python); // the new venv has an interpreter of that name (ENOENT refuses the copy)
  return Buffer.from(shebang(python) + text.slice(from.length));
}

/** Reads a regular file of the seed; a link or anything else is refused. */
async function readRegular(
  path: string,
): Promise<{ body: Buffer; atime: Date; mtime: Date; mode: number }> {
  // O_NONBLOCK: a FIFO put in the seed must not hold the update (it is refused: not a file)
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const handle = await open(path, flags);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SeedRefused(`${path}: not a regular file`);
    return {
      body: await handle.readFile(),
      atime: stats.atime,
      mtime: stats.mtime,
      mode: stats.mode & 0o755,
    };
  } finally {
    await handle.close();
  }
}

async function writeNew(path: string, body: Buffer, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const handle = await createExclusive(path, mode); // never through a link, never over a file
  try {
    await handle.writeFile(body);
  } finally {
    await handle.close();
  }
}

interface Planned extends RecordEntry {
  /** Relative to the venv (and to the seed). */
  inVenv: string;
}

/** Where a RECORD row goes in the venv; a row that leads out of it refuses the whole copy. */
function plan(entry: RecordEntry, venv: string, site: string, record: string): Planned {
  const inVenv = relative(venv, normalize(join(site, entry.path)));
  if (inVenv === ".." || inVenv.startsWith(`..${sep}`) || inVenv === "")
    throw new SeedRefused(`${record}: ${entry.path} is outside the venv`);
  return { ...entry, inVenv };
}

async function copyEntry(entry: Planned, where: { seed: string; venv: string }): Promise<void> {
  const source = join(where.seed, entry.inVenv);
  const file = await readRegular(source);
  if (entry.sha256 !== null) {
    const found = createHash("sha256").update(file.body).digest("base64url");
    if (found !== entry.sha256)
      throw new SeedRefused(`${source}: RECORD says sha256=${entry.sha256}, found sha256=${found}`);
  }
  const target = join(where.venv, entry.inVenv);
  const isScript = entry.inVenv.startsWith(`bin${sep}`);
  const body = isScript ? await retargetScript(file.body, where, source) : file.body;
  await writeNew(target, body, isScript ? 0o755 : file.mode);
  // the .pyc files record their source's mtime: kept, they stay valid
  if (!isScript) await utimes(target, file.atime, file.mtime);
}

/**
 * Copies every distribution installed in the seed's site-packages into the
 * new venv (which was created `--without-pip` and has none). Every RECORD is
 * read and every row placed before the first file is copied. Throws
 * SeedRefused, or a file system error, when
 * anything is not as its RECORD says, once no copy is still under way; the
 * caller then removes the venv.
 */
export async function copySeed(seed: string, venv: string): Promise<void> {
  const siteRelative = await sitePackages(seed);
  const seedSite = join(seed, siteRelative);
  const site = join(venv, siteRelative);
  const pip = await pipRecord(seed, siteRelative);
  if (pip === null) throw new SeedRefused(`${seedSite}: no pip in the seed`);
  const planned: Planned[] = [];
  for (const name of await readdir(seedSite)) {
    if (!name.endsWith(".dist-info")) continue;
    const record = join(seedSite, name, "RECORD");
    if (!(await lstat(record)).isFile()) throw new SeedRefused(`${record}: not a regular file`);
    const entries = parseRecord(await readFile(record, "utf8"), record);
    // an empty or cut RECORD (a power loss after the build) would copy a pip without its code
    if (record === pip && !entries.some((entry) => entry.path === "pip/__init__.py"))
      throw new SeedRefused(`${record}: expected a row for pip/__init__.py, found none`);
    for (const entry of entries) planned.push(plan(entry, venv, site, record));
  }
  for (let at = 0; at < planned.length; at += PARALLEL) {
    const batch = await Promise.allSettled(
      planned.slice(at, at + PARALLEL).map((entry) => copyEntry(entry, { seed, venv })),
    );
    const failed = batch.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  }
}
