import { readFileSync } from "node:fs";

/**
 * The updater's own version, from package.json: one level above src/ and
 * dist/src/, two above the bundle's dist/src/cli/chunks/ (scripts/bundle.ts).
 */
function readVersion(): string {
  for (const relative of ["../package.json", "../../package.json", "../../../../package.json"]) {
    try {
      const doc = JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8"));
      if (doc.name === "decnet-updater") return doc.version as string;
    } catch {
      // try the next candidate
    }
  }
  return "0.0.0";
}

export const UPDATER_VERSION = readVersion();
