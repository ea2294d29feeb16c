import { readFileSync } from "node:fs";

/**
 * The updater's own version, from the package.json above this file: one
 * level up from src/, two from dist/src/, three from the bundle's
 * dist/src/cli/main.js and four from the bundles in dist/src/cli/chunks/
 * and dist/src/cli/fast/ (scripts/bundle.ts). Only a package.json named
 * decnet-updater counts: dist/src/cli/package.json has no name.
 */
function readVersion(): string {
  for (const relative of [
    "../package.json",
    "../../package.json",
    "../../../package.json",
    "../../../../package.json",
  ]) {
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
