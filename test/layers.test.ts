/**
 * The layers point one way (issue 16): every import in src/, static, `type`
 * or dynamic, goes from a folder to one in a lower layer (or within its own
 * folder), and no module imports itself back through others (no cycle).
 * Parsed from the source text, so a new back-arrow fails here at once.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const SRC = resolve(import.meta.dirname, "../src");

/**
 * Higher layers first. Folders of one layer may not import each other
 * (agent and self-update are peers: what both need lives in host/).
 */
export const LAYERS: string[][] = [
  ["cli"],
  // The master's side (issue 18): above everything a host runs, so nothing a host runs imports it.
  ["master"],
  ["daemon"],
  ["cycle"],
  ["agent", "self-update"],
  ["host"],
  ["pipeline", "metrics"],
  ["feed", "state", "report"],
  ["config", "layout"],
  ["http", "signing", "schedule", "process"],
  ["fs"],
  ["."],
];

const rank = new Map(LAYERS.flatMap((folders, index) => folders.map((f) => [f, index] as const)));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

const IMPORT =
  /(?:^|[^.\w])(?:import|export)\s*(?:type\s+)?(?:[^"'`;]*?\sfrom\s*)?\(?\s*["'](\.\.?\/[^"']+)["']/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(IMPORT)].map((match) =>
    resolve(dirname(file), (match[1] as string).replace(/\.js$/, ".ts")),
  );
}

const folderOf = (file: string) => {
  const rel = relative(SRC, file);
  return rel.includes("/") ? (rel.split("/")[0] as string) : ".";
};

const files = sources(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

test("every src folder has a layer", () => {
  const unknown = [...new Set(files.map(folderOf))].filter((folder) => !rank.has(folder));
  assert.deepEqual(unknown, []);
});

test("no import goes from a lower layer to a higher one, or sideways between folders of one layer", () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph)
    for (const target of imports) {
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from === to) continue;
      if ((rank.get(from) as number) >= (rank.get(to) as number))
        wrong.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  assert.deepEqual(wrong, []);
});

test("no import cycle between modules", () => {
  // Tarjan's strongly connected components: any with more than one module is a cycle.
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string) => {
    indexOf.set(file, index);
    low.set(file, index++);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (!indexOf.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file) as number, low.get(next) as number));
      } else if (onStack.has(next))
        low.set(file, Math.min(low.get(file) as number, indexOf.get(next) as number));
    }
    if (low.get(file) === indexOf.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(relative(SRC, member));
      } while (member !== file);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const file of files) if (!indexOf.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});

test("the test sees the imports (a known edge is found)", () => {
  const cli = join(SRC, "cli/program.ts");
  assert.ok(graph.get(cli)?.includes(join(SRC, "cli/commands/update.ts")));
});

test("the host's code never loads the master's: only the master's commands import src/master, and only when they run", () => {
  const MASTER = join(SRC, "master");
  const allowed = ["cli/commands/receive.ts", "cli/commands/fleet.ts", "cli/commands/rollout.ts"];
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    if (file.startsWith(`${MASTER}/`)) continue;
    const rel = relative(SRC, file);
    for (const target of imports.filter((t) => t.startsWith(`${MASTER}/`))) {
      if (!allowed.includes(rel)) wrong.push(`${rel} -> ${relative(SRC, target)}`);
    }
    if (allowed.includes(rel)) {
      // static imports of master (import ... from "../../master/...") would load it with the CLI
      const text = readFileSync(file, "utf8");
      if (/^\s*import[^(]*from\s*["'][^"']*\/master\//m.test(text))
        wrong.push(`${rel}: a static import of src/master`);
    }
  }
  assert.deepEqual(wrong, []);
  // and the check sees the dynamic imports it allows
  assert.ok(
    graph.get(join(SRC, "cli/commands/fleet.ts"))?.includes(join(MASTER, "fleet/summary.ts")),
  );
});
