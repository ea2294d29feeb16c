/**
 * What a leak looks like in a heap: JS objects, closures, strings, arrays and
 * buffers that survive a full GC. This sums them by (node type, name) from a
 * real V8 heap snapshot and leaves out machine code and V8's own bookkeeping
 * ("code", "hidden"), which the optimizing compiler keeps adding to for a
 * long while after warm-up without anything leaking.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setFlagsFromString, writeHeapSnapshot } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
export const gc = runInNewContext("gc") as () => void;

const LEAK_TYPES = new Set([
  "object",
  "closure",
  "string",
  "concatenated string",
  "sliced string",
  "array",
  "regexp",
  "native",
  "number",
  "symbol",
  "bigint",
]);

export type HeapCensus = Map<string, { count: number; bytes: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * Full GC, then a census of the JS-level heap by "type name", saved to a
 * file: a census kept in memory would itself show up as growth in the next
 * one (thousands of keys), so callers hold only the path. With
 * KEEP_SNAPSHOT=DIR the snapshots are kept in DIR for a closer look (retainer
 * paths in Chrome DevTools' Memory tab).
 */
export async function heapCensus(dir: string, name: string): Promise<string> {
  // A full GC queues the destroy hooks of the async resources it freed; Node
  // runs them later, on the loop. node:test keeps every live async resource in
  // a Map (its `testResources`) until its destroy hook runs, so a snapshot
  // taken before they ran counts the runner's backlog, whose size depends on
  // how loaded the machine is (a 900 KiB Map table under CI load), not on us.
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  gc();
  const file = join(process.env.KEEP_SNAPSHOT ?? dir, `census-${name}-${process.pid}.heapsnapshot`);
  writeHeapSnapshot(file);
  const snapshot = JSON.parse(await readFile(file, "utf8")) as Snapshot;
  if (!process.env.KEEP_SNAPSHOT) await rm(file, { force: true });
  else process.stdout.write(`# snapshot ${name} ${file}\n`);
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const census: HeapCensus = new Map();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt] as number] as string;
    if (!LEAK_TYPES.has(type)) continue;
    const name =
      type === "object" || type === "closure" || type === "native" || type === "array"
        ? (snapshot.strings[snapshot.nodes[i + nameAt] as number] ?? "").slice(0, 60)
        : "";
    const key = `${type} ${name}`.trim();
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt] as number;
    census.set(key, entry);
  }
  const path = join(dir, `${name}.census.json`);
  await writeFile(path, JSON.stringify([...census]));
  return path;
}

export async function loadCensus(path: string): Promise<HeapCensus> {
  return new Map(
    JSON.parse(await readFile(path, "utf8")) as Array<[string, { count: number; bytes: number }]>,
  );
}

export function totalBytes(census: HeapCensus): number {
  let sum = 0;
  for (const { bytes } of census.values()) sum += bytes;
  return sum;
}

export function totalCount(census: HeapCensus): number {
  let sum = 0;
  for (const { count } of census.values()) sum += count;
  return sum;
}

/** The entries that grew most between two censuses, for a failure message. */
export function topGrowth(before: HeapCensus, after: HeapCensus, limit = 8): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys]
    .map((key) => ({
      key,
      bytes: (after.get(key)?.bytes ?? 0) - (before.get(key)?.bytes ?? 0),
      count: (after.get(key)?.count ?? 0) - (before.get(key)?.count ?? 0),
    }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, limit)
    .map(
      ({ key, bytes, count }) =>
        `${key}: ${bytes >= 0 ? "+" : ""}${bytes} B (${count >= 0 ? "+" : ""}${count})`,
    );
}
