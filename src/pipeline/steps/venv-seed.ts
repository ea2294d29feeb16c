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

/** The lines of pyvenv.cfg that name the interpreter (not `command`, which names the venv). */
const INTERPRETER_KEYS = ["home", "executable", "version", "version_info"];

/** Files copied at once: well under the updater's limit of open files. */
const PARALLEL = 16;

export class SeedRefused extends Error {}

async function interpreterOf(venv: string): Promise<string> {
  const text = await readFile(join(venv, "pyvenv.cfg"), "utf8");
  const lines = text
    .split("\n")
    .map((line) => line.split("=").map((part) => part.trim()))
    .filter(([key]) => INTERPRETER_KEYS.includes(key as string))
    .map(([key, ...value]) => `${key}=${value.join("=")}`);
  return lines.sort().join("\n");
}

/** The one lib/pythonX.Y/site-packages of a venv, relative to it. */
async function sitePackages(venv: string): Promise<string> {
  const names = (await readdir(join(venv, "lib"))).filter((name) => name.startsWith("python"));
  if (names.length !== 1)
    throw new SeedRefused(
      `${join(venv, "lib")}: expected one python* folder, found ${names.length}`,
    );
  return join("lib", names[0] as string, "site-packages");
}

/** The pip RECORD of a venv's site-packages, or null. pip writes it last: a complete install. */
async function pipRecord(venv: string, site: string): Promise<string | null> {
  const names = await readdir(join(venv, site));
  const dist = names.find((name) => /^pip-[^/]+\.dist-info$/.test(name));
  return dist ? join(venv, site, dist, "RECORD") : null;
}

/** Written into the seed once it is built: a build cut short has none. */
export const SEED_COMPLETE = ".decnet-updater-seed";

/** Whether the seed is complete and was made by the interpreter that made `venv`. */
export async function seedFits(seed: string, venv: string): Promise<boolean> {
  try {
    const [seedSite, venvSite] = await Promise.all([sitePackages(seed), sitePackages(venv)]);
    if (seedSite !== venvSite || !(await lstat(join(seed, SEED_COMPLETE))).isFile()) return false;
    return (await interpreterOf(seed)) === (await interpreterOf(venv));
  } catch {
    return false;
  }
}

/** Marks a seed built (after ensurepip has installed everything in it). */
export async function markSeedComplete(seed: string): Promise<void> {
  await writeNew(join(seed, SEED_COMPLETE), Buffer.from(`${await interpreterOf(seed)}\n`), 0o644);
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
 * line when it is short and has no space, else a /bin/sh line that execs it
 * (and that Python reads as a string).
 */
function shebang(python: string): string {
  const plain = `#!${python}\n`;
  if (plain.length <= 127 && !python.includes(" ")) return plain;
  const quoted = python.includes(" ") ? `"${python}"` : python;
  return `#!/bin/sh\n'''exec' ${quoted} "$0" "$@"\n' '''`;
}

/** A seed script with its shebang made for the new venv's interpreter (python3, python or python3.X). */
function retargetScript(
  body: Buffer,
  where: { seed: string; venv: string; site: string },
  file: string,
): Buffer {
  const text = body.toString("utf8");
  const versioned = where.site.split(sep).at(-2) as string; // lib/python3.11/site-packages
  for (const python of ["python3", "python", versioned]) {
    const from = shebang(join(where.seed, "bin", python));
    if (text.startsWith(from))
      return Buffer.from(shebang(join(where.venv, "bin", python)) + text.slice(from.length));
  }
  throw new SeedRefused(`${file}: its first line is not the seed's interpreter`);
}

/** Reads a regular file of the seed; a link or anything else is refused. */
async function readRegular(
  path: string,
): Promise<{ body: Buffer; atime: Date; mtime: Date; mode: number }> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
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
  // wx: O_CREAT|O_EXCL, never through a link and never over a file
  const handle = await open(path, "wx", mode);
  try {
    await handle.writeFile(body);
  } finally {
    await handle.close();
  }
}

async function copyEntry(
  entry: RecordEntry,
  where: { seed: string; venv: string; site: string; record: string },
): Promise<void> {
  const target = normalize(join(where.site, entry.path));
  const inVenv = relative(where.venv, target);
  if (inVenv.startsWith(`..${sep}`) || inVenv === "..")
    throw new SeedRefused(`${where.record}: ${entry.path} is outside the venv`);
  const source = join(where.seed, inVenv);
  const file = await readRegular(source);
  if (entry.sha256 !== null) {
    const found = createHash("sha256").update(file.body).digest("base64url");
    if (found !== entry.sha256)
      throw new SeedRefused(`${source}: RECORD says sha256=${entry.sha256}, found sha256=${found}`);
  }
  const isScript = inVenv.startsWith(`bin${sep}`);
  const body = isScript ? retargetScript(file.body, where, source) : file.body;
  await writeNew(join(where.venv, inVenv), body, isScript ? 0o755 : file.mode);
  // the .pyc files record their source's mtime: kept, they stay valid
  if (!isScript) await utimes(join(where.venv, inVenv), file.atime, file.mtime);
}

/**
 * Copies every distribution installed in the seed's site-packages into the
 * new venv (which was created `--without-pip` and has none). Returns the
 * number of files copied. Throws SeedRefused, or a file system error, when
 * anything is not as its RECORD says; the caller then removes the venv.
 */
export async function copySeed(seed: string, venv: string): Promise<number> {
  const siteRelative = await sitePackages(seed);
  const seedSite = join(seed, siteRelative);
  const site = join(venv, siteRelative);
  const records: Array<{ record: string; entries: RecordEntry[] }> = [];
  for (const name of await readdir(seedSite)) {
    if (!name.endsWith(".dist-info")) continue;
    const record = join(seedSite, name, "RECORD");
    if (!(await lstat(record)).isFile()) throw new SeedRefused(`${record}: not a regular file`);
    records.push({ record, entries: parseRecord(await readFile(record, "utf8"), record) });
  }
  if ((await pipRecord(seed, siteRelative)) === null)
    throw new SeedRefused(`${seedSite}: no pip in the seed`);
  let copied = 0;
  for (const { record, entries } of records) {
    const where = { seed, venv, site, record };
    for (let at = 0; at < entries.length; at += PARALLEL) {
      await Promise.all(entries.slice(at, at + PARALLEL).map((entry) => copyEntry(entry, where)));
    }
    copied += entries.length;
  }
  return copied;
}
