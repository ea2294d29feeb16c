/**
 * Writes config/updater.example.toml from the schema table, so the example
 * can never drift from what the loader accepts. `npm run gen:config`; a test
 * fails when the committed file differs from what this prints.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { SCHEMA } from "../src/config/schema.js";

const EXAMPLE_VALUES: Record<string, unknown> = {
  "feed.url": "https://master.decnet.example:8443/feed/",
  "feed.report_url": "https://master.decnet.example:8443/reports",
  "feed.ca": "/etc/decnet/updater/ca.crt",
  "feed.cert": "/etc/decnet/updater/host.crt",
  "feed.key": "/etc/decnet/updater/host.key",
  "feed.server_name": "master.decnet.example",
  "feed.trusted_keys": ["/etc/decnet/updater/master.pub"],
  "pin.version": "~1.2",
  "pin.sha": "a9a86c94e1",
  "metrics.textfile": "/var/lib/prometheus/node-exporter/decnet_updater.prom",
  "self_update.feed_url": "https://master.decnet.example:8443/updater-feed/",
  "self_update.trusted_keys": ["/etc/decnet/updater/updater-release.pub"],
};

/** Optional in the schema but needed for an https feed, which every real fleet uses. */
const SHOWN = new Set(["feed.ca", "feed.cert", "feed.key"]);

function toml(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

export function renderExample(): string {
  const out = [
    "# decnet-updater configuration: every key, with its default.",
    "# Generated from src/config/schema.ts by `npm run gen:config`; do not edit by hand.",
    "#",
    "# Lines starting with `# key =` are optional keys shown with an example value;",
    "# uncommented lines are required or show the default. Relative paths resolve",
    "# against the file that sets them. Drop-ins in <this file>.d/*.toml are merged",
    "# on top in lexical order, key by key (see updater.toml.d/90-pin.example.toml).",
    "",
  ];
  let section = "";
  for (const [key, spec] of Object.entries(SCHEMA)) {
    const dot = key.indexOf(".");
    const table = dot === -1 ? "" : key.slice(0, dot);
    const name = dot === -1 ? key : key.slice(dot + 1);
    if (table !== section) {
      out.push("", "", `[${table}]`);
      section = table;
    }
    out.push("", `# ${spec.doc}`);
    if (spec.required || SHOWN.has(key)) out.push(`${name} = ${toml(EXAMPLE_VALUES[key])}`);
    else if (typeof spec.default === "function") out.push(`# ${name} = "<the host name>"`);
    else if (spec.default === undefined) out.push(`# ${name} = ${toml(EXAMPLE_VALUES[key] ?? "")}`);
    else out.push(`# ${name} = ${toml(spec.default)}`);
  }
  return `${out.join("\n")}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  writeFileSync(resolve(import.meta.dirname, "../config/updater.example.toml"), renderExample());
}
