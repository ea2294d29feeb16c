/**
 * The extractor on its own: what it keeps (modes without setuid/setgid/
 * sticky, files and folders) and that a refusal leaves nothing. The table of
 * hostile archives runs end to end, as signed releases through `update`, in
 * test/hostile/archives.test.ts.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { access, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { extractRelease } from "../../src/pipeline/steps/extract.js";
import { good, HOSTILE_ARCHIVES, HOSTILE_LIMITS, OUTSIDE } from "../helpers/hostile-archives.js";
import { snapshot } from "../helpers/snapshot.js";
import { tarGz } from "../helpers/tarball.js";
import { tempDir } from "../helpers/tmp.js";

describe("hostile archives are refused and leave nothing behind", () => {
  // The table itself runs end to end, as signed releases: test/hostile/archives.test.ts.
  test("a refused archive leaves no staging folder and writes nothing outside it", async (t) => {
    const base = await tempDir(t);
    const tarball = join(base, "release.tar.gz");
    const symlinkThenWrite = HOSTILE_ARCHIVES.find((c) =>
      c.name.startsWith("a symlink then a file"),
    );
    assert.ok(symlinkThenWrite);
    await writeFile(tarball, symlinkThenWrite.bytes());
    const staging = join(base, "active.new");
    await assert.rejects(extractRelease(tarball, staging, HOSTILE_LIMITS), { code: "E_ARCHIVE" });
    await assert.rejects(access(staging), { code: "ENOENT" });
    await assert.rejects(access(OUTSIDE), { code: "ENOENT" });
  });

  test("archives made by GNU tar and Python's tarfile (zero padding after the end marker) are accepted", async (t) => {
    const base = await tempDir(t);
    const src = join(base, "src");
    await mkdir(join(src, "pkg"), { recursive: true });
    await writeFile(join(src, "pkg/ok.py"), "print(1)\n");
    const made = {
      gnu: join(base, "gnu.tar.gz"),
      python: join(base, "python.tar.gz"),
    };
    execFileSync("tar", ["-czf", made.gnu, "-C", src, "pkg"]);
    execFileSync("python3", [
      "-c",
      "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t: t.add(sys.argv[2], 'pkg')",
      made.python,
      join(src, "pkg"),
    ]);
    for (const [tool, tarball] of Object.entries(made)) {
      const staging = join(base, `${tool}-staging`);
      assert.deepEqual(
        await extractRelease(tarball, staging, HOSTILE_LIMITS),
        { entries: 2, bytes: 9 },
        tool,
      );
      assert.equal(await readFile(join(staging, "pkg/ok.py"), "utf8"), "print(1)\n");
    }
  });

  test("setuid, setgid and sticky bits are stripped and owners are not kept", async (t) => {
    const base = await tempDir(t);
    const tarball = join(base, "release.tar.gz");
    await writeFile(
      tarball,
      tarGz([
        { path: "bin/", mode: 0o1777 },
        { path: "bin/tool", body: "#!/bin/sh\n", mode: 0o6755 },
      ]),
    );
    const staging = join(base, "active.new");
    assert.deepEqual(await extractRelease(tarball, staging, HOSTILE_LIMITS), {
      entries: 2,
      bytes: 10,
    });
    const tool = await stat(join(staging, "bin/tool"));
    assert.equal(tool.mode & 0o7777, 0o755);
    assert.equal((await stat(join(staging, "bin"))).mode & 0o7000, 0);
    assert.equal(tool.uid, process.getuid?.());
  });

  test("a well-formed release extracts with its files and folders", async (t) => {
    const base = await tempDir(t);
    const tarball = join(base, "release.tar.gz");
    await writeFile(
      tarball,
      tarGz([{ path: "./" }, ...good, { path: "implied/deep/file.txt", body: "hello" }]),
    );
    const staging = join(base, "active.new");
    await extractRelease(tarball, staging, HOSTILE_LIMITS);
    assert.deepEqual(Object.keys(await snapshot(staging)).sort(), [
      "implied",
      "implied/deep",
      "implied/deep/file.txt",
      "pkg",
      "pkg/ok.py",
    ]);
  });
});
