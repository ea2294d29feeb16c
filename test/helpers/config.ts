/** Writes a TOML config for tests: a small serializer for flat tables is enough here. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

export type TomlValue = string | number | boolean | string[];
export type TomlTables = Record<string, Record<string, TomlValue> | TomlValue>;

function value(v: TomlValue): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

export function toToml(doc: TomlTables): string {
  const top: string[] = [];
  const tables: string[] = [];
  for (const [key, entry] of Object.entries(doc)) {
    if (typeof entry === "object" && !Array.isArray(entry)) {
      tables.push(`[${key}]`, ...Object.entries(entry).map(([k, v]) => `${k} = ${value(v)}`), "");
    } else top.push(`${key} = ${value(entry)}`);
  }
  return `${[...top, "", ...tables].join("\n")}\n`;
}

export async function writeToml(dir: string, name: string, doc: TomlTables): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, toToml(doc));
  return path;
}
