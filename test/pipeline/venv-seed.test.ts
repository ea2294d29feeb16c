/**
 * The venv seed (pipeline/steps/venv-seed.ts) with the real python3: a new
 * venv gets ensurepip's pip by copy, works on its own once the seed and the
 * venv before it are gone, and a seed that is not as its RECORD says, or
 * that another interpreter made, is never copied.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type InstallInput, installRelease } from "../../src/pipeline/steps/install.js";
import { copySeed, SEED_COMPLETE } from "../../src/pipeline/steps/venv-seed.js";
import { PYTHON_SKIP } from "../helpers/python.js";

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-seed-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const DAY_MS = 24 * 3600 * 1000;

function input(name: string, seed: string, nowMs = Date.now()): InstallInput {
  return {
    now: () => new Date(nowMs),
    python: "python3",
    command: ["{venv}/bin/python", "-I", "-c", "import pip"],
    smoke: [],
    timeoutS: 300,
    timeoutMs: 300_000,
    seed,
    placeholders: { venv: join(root, "venvs", name), release: root, install_dir: root },
  };
}

const py = (venv: string, ...args: string[]) =>
  execFileSync(join(venv, "bin/python"), ["-I", ...args], { encoding: "utf8" });

async function sitePackages(venv: string): Promise<string> {
  const [name] = await readdir(join(venv, "lib"));
  return join(venv, "lib", name as string, "site-packages");
}

describe("the venv seed", { skip: PYTHON_SKIP }, () => {
  const seed = () => join(root, "state", "venv-seed");

  test("the first venv builds the seed, the next ones copy it, and each works alone", async () => {
    const first = await installRelease(input("a", seed()));
    assert.equal(first.pip, "seed");
    assert.ok(first.seedBuiltMs > 0, "a first install builds the seed");
    assert.equal(first.seedRefused, null);

    const second = await installRelease(input("b", seed()));
    assert.deepEqual([second.pip, second.seedBuiltMs, second.seedRefused], ["seed", 0, null]);

    // what ensurepip would have installed: its pip
    const bundled = execFileSync(
      "python3",
      ["-I", "-c", "import ensurepip; print(ensurepip.version())"],
      {
        encoding: "utf8",
      },
    ).trim();
    const dists = (await readdir(await sitePackages(join(root, "venvs/b")))).filter((n) =>
      n.endsWith(".dist-info"),
    );
    assert.ok(dists.includes(`pip-${bundled}.dist-info`), `pip-${bundled} in ${dists.join(", ")}`);

    // the seed and the venv before it deleted: b's pip is its own
    await rm(seed(), { recursive: true });
    await rm(join(root, "venvs/a"), { recursive: true });
    const b = join(root, "venvs/b");
    assert.match(
      py(b, "-m", "pip", "--version"),
      new RegExp(`from ${b}/lib/python3[.0-9]+/site-packages/pip `),
    );
    const script = execFileSync(join(b, "bin/pip"), ["--version"], { encoding: "utf8" });
    assert.match(script, new RegExp(`from ${b}/`));
    assert.equal((await readFile(join(b, "bin/pip"), "utf8")).split("\n")[0], `#!${b}/bin/python3`);
    // compiled modules were kept valid, and they name b's files, not the seed's
    const where = py(
      b,
      "-c",
      "import pip._internal.cli.main as m; print(m.main.__code__.co_filename)",
    );
    assert.equal(where.trim(), join(await sitePackages(b), "pip/_internal/cli/main.py"));
    assert.equal((await stat(b)).mode & 0o777, 0o700, "still 0700 until rotation");
  });

  test("a seed file that is not as its RECORD says: ensurepip, and the seed is built again", async () => {
    await installRelease(input("c", seed()));
    const tampered = join(await sitePackages(seed()), "pip/__init__.py");
    await appendFile(tampered, "\nimport os; os.system('touch /tmp/pwned')\n");
    const done = await installRelease(input("d", seed()));
    assert.equal(done.pip, "ensurepip");
    assert.match(
      done.seedRefused ?? "",
      new RegExp(
        `^${tampered}: RECORD says sha256=[A-Za-z0-9_-]{43}, found sha256=[A-Za-z0-9_-]{43}$`,
      ),
    );
    const site = await sitePackages(join(root, "venvs/d"));
    assert.doesNotMatch(await readFile(join(site, "pip/__init__.py"), "utf8"), /pwned/);
    await assert.rejects(stat(seed()), { code: "ENOENT" }, "the refused seed is gone");
    const next = await installRelease(input("e", seed()));
    assert.equal(next.pip, "seed");
    assert.ok(next.seedBuiltMs > 0);
  });

  test("a seed a week old, or that others could enter, is built again, not copied", async () => {
    await installRelease(input("old0", seed()));
    const aged = await installRelease(input("old1", seed(), Date.now() + 8 * DAY_MS));
    assert.equal(aged.pip, "seed");
    assert.ok(aged.seedBuiltMs > 0, "rebuilt after a week");
    await chmod(seed(), 0o755);
    const opened = await installRelease(input("old2", seed(), Date.now() + 8 * DAY_MS));
    assert.ok(opened.seedBuiltMs > 0, "rebuilt: the seed was not 0700");
    assert.equal((await stat(seed())).mode & 0o777, 0o700);
  });

  test("a seed that cannot be built: this venv gets ensurepip's pip, and the install goes on", async () => {
    const blocked = join(root, "a-file");
    await writeFile(blocked, "not a folder\n");
    const done = await installRelease(input("nb", join(blocked, "venv-seed")));
    assert.equal(done.pip, "ensurepip");
    assert.equal(done.seedRefused, `EEXIST: file already exists, mkdir '${blocked}'`);
    assert.match(py(join(root, "venvs/nb"), "-m", "pip", "--version"), /^pip /);
  });

  test("a seed another interpreter made is built again, not copied", async () => {
    await installRelease(input("h", seed()));
    const cfg = join(seed(), "pyvenv.cfg");
    const text = await readFile(cfg, "utf8");
    await writeFile(cfg, text.replace(/^version(_info)? = .*$/m, "version = 3.99.0"));
    const done = await installRelease(input("i", seed()));
    assert.equal(done.pip, "seed");
    assert.ok(done.seedBuiltMs > 0, "rebuilt for this interpreter");
    assert.doesNotMatch(await readFile(cfg, "utf8"), /3\.99\.0/);

    // a build cut short (no completion mark): built again, not copied
    await unlink(join(seed(), SEED_COMPLETE));
    const after = await installRelease(input("i2", seed()));
    assert.equal(after.pip, "seed");
    assert.ok(after.seedBuiltMs > 0, "rebuilt after a build cut short");
    await stat(join(seed(), SEED_COMPLETE));
  });

  test("a link in the seed is refused, not followed", async () => {
    const file = join(await sitePackages(seed()), "pip/__main__.py");
    await writeFile(join(root, "elsewhere.py"), await readFile(file));
    await unlink(file);
    await symlink(join(root, "elsewhere.py"), file);
    const planted = await readFile(join(root, "elsewhere.py"));
    const done = await installRelease(input("g", seed()));
    assert.equal(done.pip, "ensurepip");
    assert.equal(done.seedRefused, `ELOOP: too many symbolic links encountered, open '${file}'`);
    // the link's target untouched, the venv's file its own, the refused seed gone
    assert.deepEqual(await readFile(join(root, "elsewhere.py")), planted);
    const own = join(await sitePackages(join(root, "venvs/g")), "pip/__main__.py");
    assert.ok((await lstat(own)).isFile(), "ensurepip's file, not a link");
    await assert.rejects(stat(seed()), { code: "ENOENT" });
  });

  test("a RECORD row out of the venv, or one this code does not read, is refused before anything is copied", async () => {
    // a made-up seed: no interpreter needed to read its RECORD
    const fake = join(root, "fake-seed");
    const info = join(fake, "lib/python3.11/site-packages/pip-1.0.dist-info");
    await mkdir(info, { recursive: true });
    const venv = join(root, "venvs/k");
    await mkdir(join(venv, "lib/python3.11/site-packages"), { recursive: true });
    const record = join(info, "RECORD");
    const outside = join(root, "outside.txt");
    for (const [row, message] of [
      [
        "../../../../../../outside.txt,,",
        `${record}: ../../../../../../outside.txt is outside the venv`,
      ],
      ['"pip/a,b.py",sha256=x,1', `${record}: a quoted row: "pip/a,b.py",sha256=x,1`],
      [
        "pip/__init__.py,md5=x,1",
        `${record}: pip/__init__.py: expected a sha256 hash, found md5=x`,
      ],
    ] as const) {
      await writeFile(record, `${row}\npip/__init__.py,,\n`);
      await assert.rejects(copySeed(fake, venv), (error: Error) => {
        assert.equal(error.message, message);
        return true;
      });
    }
    await assert.rejects(stat(outside), { code: "ENOENT" });
    assert.deepEqual(await readdir(join(venv, "lib/python3.11/site-packages")), []);
  });
});
