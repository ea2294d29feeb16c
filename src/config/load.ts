/**
 * Reads the main TOML file and its drop-ins (`<file>.d/*.toml`, lexical
 * order), merges them key by key and hands the result to `validate.ts`.
 *
 * Each file is flattened to dotted keys with the file that set them, so a
 * drop-in that sets `pin.version` keeps the other `pin` keys, every error can
 * name the file a bad value came from, and relative paths resolve against it.
 *
 * The files and the drop-in folder must be root's (or the running user's)
 * and not writable by group or others (fs/trust.ts): a drop-in decides
 * install.command, which runs as root.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { oneLine, UpdaterError } from "../errors.js";
import { checkTrustedPath } from "../fs/trust.js";
import type { FlatConfig, LoadOptions } from "./flat.js";
import { isSchemaKey } from "./schema.js";
import type { Config } from "./types.js";
import { validateConfig } from "./validate.js";

export { DEFAULT_CONFIG_PATH } from "./default-path.js";

export type { FlatConfig, LoadOptions, SetValue } from "./flat.js";

export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  // What the config says runs as root: nobody but root (or us) may be able to change it.
  const uid = process.getuid?.() ?? 0;
  checkTrustedPath({ key: "config", path: file, kind: "file" }, uid);
  checkTrustedPath({ key: "config", path: `${file}.d`, kind: "folder" }, uid);
  const files = [file, ...(await listDropIns(`${file}.d`))];
  for (const dropIn of files.slice(1))
    checkTrustedPath({ key: "config", path: dropIn, kind: "file" }, uid);
  const flat: FlatConfig = new Map();
  for (const path of files) {
    for (const [key, value] of flatten(await readToml(path))) flat.set(key, { value, file: path });
  }
  return validateConfig(flat, files, options);
}

async function listDropIns(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names
      .filter((name) => name.endsWith(".toml"))
      .sort()
      .map((name) => join(dir, name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new UpdaterError("E_CONFIG", `config ${dir}: cannot list drop-ins: ${oneLine(error)}`, {
      cause: error,
    });
  }
}

async function readToml(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    throw new UpdaterError(
      "E_CONFIG",
      `config ${path}: cannot read the file (${code || oneLine(error)})`,
      {
        cause: error,
      },
    );
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    // smol-toml's message quotes the source over several lines; keep its first line and the position.
    const { line, column, message } = error as { line?: number; column?: number; message: string };
    const where = line !== undefined ? ` at line ${line}, column ${column}` : "";
    const why = (message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw new UpdaterError("E_CONFIG", `config ${path}: not valid TOML${where}: ${why}`, {
      cause: error,
    });
  }
}

/** Dotted keys of a parsed TOML document; a schema key is a leaf even if given as a table. */
function* flatten(table: Record<string, unknown>, prefix = ""): Generator<[string, unknown]> {
  for (const [name, value] of Object.entries(table)) {
    const key = prefix + name;
    if (isTable(value) && !isSchemaKey(key)) yield* flatten(value, `${key}.`);
    else yield [key, value];
  }
}

function isTable(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}
