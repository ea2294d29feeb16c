/**
 * The benchmarks load the built program (dist/src/...) so they measure what
 * ships. Nothing type-checks those imports: a module moved in src/ breaks
 * the bench only when CI runs it. This names every one that points nowhere.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";

const root = resolve(import.meta.dirname, "../..");

function benchFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return benchFiles(path);
    return /\.(ts|mjs|js)$/.test(entry.name) ? [path] : [];
  });
}

test("every built module a benchmark loads has its source in src/", () => {
  const missing: string[] = [];
  let seen = 0;
  for (const file of benchFiles(join(root, "bench"))) {
    for (const match of readFileSync(file, "utf8").matchAll(/dist\/(src\/[\w/.-]+)\.js/g)) {
      seen += 1;
      const source = join(root, `${match[1]}.ts`);
      if (!existsSync(source))
        missing.push(`${file.slice(root.length + 1)}: ${match[0]} (no ${match[1]}.ts)`);
    }
  }
  assert.ok(seen >= 4, `expected the bench to load built modules, found ${seen}`);
  assert.deepEqual(missing, []);
});
