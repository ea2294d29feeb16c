/**
 * The configuration schema: one row per key, the single source for
 * validation, defaults, `config/updater.example.toml` and the docs.
 *
 * Units stay in the key names (`timeout_s`) so a reader of the TOML file
 * never has to guess them; `validate.ts` turns durations into seconds once.
 */
import { createRequire } from "node:module";
import { hostname } from "node:os";
import {
  arrayOf,
  atLeastZero,
  atLeastZeroInt,
  boolean,
  type Check,
  nonEmpty,
  oneOf,
  positive,
  positiveInt,
  refine,
  regex,
  string,
} from "./checks.js";
import { parseDurationSeconds } from "./duration.js";

export type { Check } from "./checks.js";

/** semver and node-cron are loaded only when a key that needs them is set. */
const lazyRequire = createRequire(import.meta.url);
const validRange = (value: string): boolean =>
  (lazyRequire("semver/ranges/valid") as (range: string) => string | null)(value) !== null;
const validCron = (value: string): boolean =>
  (lazyRequire("node-cron") as { validate(expression: string): boolean }).validate(value);

export interface KeySpec {
  /** What a valid value looks like, in the words of the error message. */
  expected: string;
  check: Check;
  /** Absent: the key is optional. A function: computed at load (host name). */
  default?: unknown | (() => unknown);
  required?: boolean;
  /** Relative paths are resolved against the file that sets the key. */
  path?: "one" | "each-unless-key";
  doc: string;
}

const argv = arrayOf(nonEmpty, 1);
const httpUrl = refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
});
const unitList = arrayOf(regex(/^[A-Za-z0-9@_.:-]+\.service$/));

const ROWS = {
  host_id: {
    expected: "a non-empty string",
    check: nonEmpty,
    default: () => hostname(),
    doc: "Identifies this host in reports and rollout buckets. Default: the host name.",
  },
  install_dir: {
    expected: "a directory path",
    check: nonEmpty,
    default: "/opt/decnet",
    path: "one",
    doc: "DECNET's install dir: current, releases/{active,prev}, venv, venvs/<sha>.",
  },
  state_dir: {
    expected: "a directory path",
    check: nonEmpty,
    default: "/var/lib/decnet-updater",
    path: "one",
    doc: "The agent's own state: state.json, outbox/, downloads/, lock, venv-seed/ (the pip each new venv copies, about 27 MiB).",
  },
  "feed.url": {
    expected: "an http(s) URL",
    check: httpUrl,
    required: true,
    doc: "Base URL of the feed; manifest.json and manifest.json.minisig are fetched from it.",
  },
  "feed.report_url": {
    expected: "an http(s) URL",
    check: httpUrl,
    doc: "Where outcomes are POSTed. Absent: no reports are sent.",
  },
  "feed.heartbeat": {
    expected: 'a duration like "6h", or "0" (no heartbeat)',
    check: refine((v) => v === "0" || parseDurationSeconds(v) !== undefined),
    default: "6h",
    doc: 'With feed.report_url: a host that has filed no report for this long sends a small "current" report with its active release, so the master knows every host\'s release and when it was last seen. "0": never.',
  },
  "feed.ca": {
    expected: "a PEM file path",
    check: nonEmpty,
    path: "one",
    doc: "CA that signs the master's certificate. Required for https.",
  },
  "feed.cert": {
    expected: "a PEM file path",
    check: nonEmpty,
    path: "one",
    doc: "This host's client certificate. Required for https.",
  },
  "feed.key": {
    expected: "a PEM file path",
    check: nonEmpty,
    path: "one",
    doc: "This host's client key. Required for https.",
  },
  "feed.server_name": {
    expected: "a host name",
    check: nonEmpty,
    doc: "Name checked against the master's certificate. Default: the host of feed.url.",
  },
  "feed.channel": {
    expected: "a non-empty string",
    check: nonEmpty,
    default: "stable",
    doc: "Must equal the manifest's channel.",
  },
  "feed.trusted_keys": {
    expected: "a non-empty list of minisign public keys (base64 line or .pub path)",
    check: arrayOf(nonEmpty, 1),
    required: true,
    path: "each-unless-key",
    doc: "Minisign public keys; the signature's key id picks one. Several allow key rotation.",
  },
  "feed.timeout_s": {
    expected: "a number of seconds > 0",
    check: positive,
    default: 30,
    doc: "Connect and idle-read timeout of every request.",
  },
  "feed.max_manifest_bytes": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 1_048_576,
    doc: "Larger manifests are refused unread.",
  },
  "schedule.cron": {
    expected: "a node-cron expression of 5 or 6 fields",
    check: refine(validCron),
    default: "*/15 * * * *",
    doc: "When to check for updates.",
  },
  "schedule.timezone": {
    expected: "an IANA time zone",
    check: refine(isTimeZone),
    default: "UTC",
    doc: "Time zone of the cron expression.",
  },
  "schedule.splay_s": {
    expected: "a number of seconds >= 0",
    check: atLeastZero,
    default: 900,
    doc: "Each check waits this host's fixed share of 0..splay_s seconds (from host_id) after its cron slot, to spread a fleet's polls evenly; capped at the gap between slots.",
  },
  "schedule.windows": {
    expected: 'a list of windows like "Sat 02:00-04:00" (Day HH:MM-HH:MM, Mon..Sun, 24-hour)',
    check: arrayOf(string),
    doc: "Maintenance windows in schedule.timezone: updates wait for one (checks still run and say what they would do). Absent: any time.",
  },
  "schedule.run_on_start": {
    expected: "true or false",
    check: boolean,
    default: true,
    doc: "Check once right after the daemon starts.",
  },
  "pin.version": {
    expected: 'an exact version or semver range ("1.2.1", "~1.2", ">=1.2 <2")',
    check: refine(validRange),
    doc: "Install the highest release satisfying this instead of latest.",
  },
  "pin.sha": {
    expected: "a hex git sha (7 to 64 characters)",
    check: regex(/^[0-9a-f]{7,64}$/),
    doc: "Install exactly this release; wins over pin.version.",
  },
  "pin.min_age": {
    expected: 'a duration like "3d" or "12h"',
    check: refine((v) => parseDurationSeconds(v) !== undefined),
    doc: 'Install a release only once this host has seen it in the feed for this long (its own first sighting); "critical": true in the manifest bypasses it.',
  },
  "pin.hold": {
    expected: "true or false",
    check: boolean,
    default: false,
    doc: "Never update; checks still run and say what they would do.",
  },
  "install.python": {
    expected: "an interpreter name or path",
    check: nonEmpty,
    default: "python3",
    doc: "Interpreter that creates each venvs/<sha>/.",
  },
  "install.command": {
    expected: "a non-empty argv list",
    check: argv,
    default: ["{venv}/bin/python", "-m", "pip", "install", "{release}"],
    doc: "Installs the release into its venv. Placeholders: {venv}, {release}, {install_dir}.",
  },
  "install.smoke": {
    expected: "an argv list ([] disables)",
    check: arrayOf(nonEmpty),
    default: ["{venv}/bin/decnet", "--help"],
    doc: "Run in the staged venv before anything live changes; failure changes nothing.",
  },
  "install.timeout_s": {
    expected: "a number of seconds > 0",
    check: positive,
    default: 900,
    doc: "Limit for the install and smoke commands.",
  },
  "install.path_symlink": {
    expected: 'a path ("" disables)',
    check: string,
    default: "/usr/local/bin/decnet",
    path: "one",
    doc: "Repointed at {install_dir}/venv/bin/decnet.",
  },
  "units.dir": {
    expected: "a directory path",
    check: nonEmpty,
    default: "/etc/systemd/system",
    path: "one",
    doc: "Where the release's etc/systemd/system/*.service files are copied.",
  },
  "units.allow": {
    expected: "a list of unit name globs",
    check: arrayOf(nonEmpty),
    default: ["decnet-*.service"],
    doc: "Unit names a release may install; a release shipping another is refused.",
  },
  "restart.mode": {
    expected: '"systemd", "process" or "auto"',
    check: oneOf("systemd", "process", "auto"),
    default: "auto",
    doc: "auto: systemd when INVOCATION_ID is set and systemctl is on PATH.",
  },
  "restart.units": {
    expected: "a list of .service names",
    check: unitList,
    default: ["decnet-agent.service"],
    doc: "Restarted in order; the first must succeed.",
  },
  "restart.optional_units": {
    expected: "a list of .service names",
    check: unitList,
    default: [
      "decnet-forwarder.service",
      "decnet-collector.service",
      "decnet-prober.service",
      "decnet-profiler.service",
      "decnet-sniffer.service",
    ],
    doc: "Restarted best-effort.",
  },
  "restart.command": {
    expected: "a non-empty argv list",
    check: argv,
    default: ["{install_dir}/venv/bin/decnet", "agent", "--daemon"],
    doc: "Process mode: started detached in its own session, cwd install_dir.",
  },
  "restart.stop_grace_s": {
    expected: "a number of seconds >= 0",
    check: atLeastZero,
    default: 10,
    doc: "Process mode: SIGTERM, then SIGKILL after this.",
  },
  "probe.url": {
    expected: "an http(s) URL",
    check: httpUrl,
    default: "https://127.0.0.1:8765/health",
    doc: "The agent's health endpoint; 200 means healthy.",
  },
  "probe.ca": {
    expected: "a PEM file path",
    check: nonEmpty,
    default: "/etc/decnet/agent/ca.crt",
    path: "one",
    doc: "CA of the agent's certificate.",
  },
  "probe.cert": {
    expected: "a PEM file path",
    check: nonEmpty,
    default: "/etc/decnet/agent/worker.crt",
    path: "one",
    doc: "Client certificate for the probe.",
  },
  "probe.key": {
    expected: "a PEM file path",
    check: nonEmpty,
    default: "/etc/decnet/agent/worker.key",
    path: "one",
    doc: "Client key for the probe.",
  },
  "probe.attempts": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 20,
    doc: "Probes until the first healthy answer.",
  },
  "probe.backoff_s": {
    expected: "a number of seconds > 0",
    check: positive,
    default: 0.5,
    doc: "Wait between probes.",
  },
  "probe.soak_s": {
    expected: "a number of seconds >= 0",
    check: atLeastZero,
    default: 10,
    doc: "After the first healthy answer the agent must stay healthy this long.",
  },
  "probe.identity": {
    expected: '"if-present", "required" or "off"',
    check: oneOf("if-present", "required", "off"),
    default: "if-present",
    doc: "Whether the health JSON's sha/version must equal the target's.",
  },
  "retry.failed_release": {
    expected: '"never" or a duration like "24h"',
    check: refine((v) => v === "never" || parseDurationSeconds(v) !== undefined),
    default: "never",
    doc: "When a release marked failed may be tried again.",
  },
  "retry.max_install_attempts": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 3,
    doc: "Consecutive install/smoke failures before the release is marked failed.",
  },
  "limits.max_download_bytes": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 536_870_912,
    doc: "Tarball size limit (the manifest's size also bounds it).",
  },
  "limits.max_unpacked_bytes": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 1_073_741_824,
    doc: "Total size of the extracted files.",
  },
  "limits.max_entries": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 200_000,
    doc: "Number of entries in a tarball.",
  },
  "limits.install_reserve_bytes": {
    expected: "an integer >= 0",
    check: atLeastZeroInt,
    default: 64 * 1024 * 1024,
    doc: "Preflight wants this much free under install_dir beyond 4 x the tarball's size (the new venv: python and pip alone are tens of MiB).",
  },
  "limits.max_updates_per_day": {
    expected: "an integer > 0",
    check: positiveInt,
    default: 4,
    doc: "At most this many updates in any 24 hours, whatever the feed says; a stopped update is reported.",
  },
  "metrics.textfile": {
    expected: "a file path",
    check: nonEmpty,
    path: "one",
    doc: "Prometheus textfile rewritten each cycle. Absent: no metrics file. The units allow /var/lib/prometheus/node-exporter.",
  },
  "log.level": {
    expected: '"trace", "debug", "info", "warn", "error" or "silent"',
    check: oneOf("trace", "debug", "info", "warn", "error", "silent"),
    default: "info",
    doc: "Least severe level that is logged.",
  },
  "self_update.enabled": {
    expected: "true or false",
    check: boolean,
    default: false,
    doc: "Let the updater update itself from self_update.feed_url, on trial through the launcher (SPEC section 12).",
  },
  "self_update.feed_url": {
    expected: "an http(s) URL",
    check: httpUrl,
    doc: "Base URL of the updater's own feed (same format as feed.url; same mTLS identity). Required when enabled.",
  },
  "self_update.install_dir": {
    expected: "a directory path",
    check: nonEmpty,
    default: "/opt/decnet-updater",
    path: "one",
    doc: "The updater's own install dir, with the same slot layout as install_dir.",
  },
  "self_update.trusted_keys": {
    expected: "a non-empty list of minisign public keys (base64 line or .pub path)",
    check: arrayOf(nonEmpty, 1),
    path: "each-unless-key",
    doc: "Keys for the updater's own feed. Absent: feed.trusted_keys.",
  },
} satisfies Record<string, KeySpec>;

/** A key of the schema: what validate.ts may ask for (a typo is a type error). */
export type SchemaKey = keyof typeof ROWS;

export const SCHEMA: Readonly<Record<SchemaKey, KeySpec>> = ROWS;

/** Whether `key` (from a config file) is a schema key: an own key, never one of Object's. */
export function isSchemaKey(key: string): key is SchemaKey {
  return Object.hasOwn(SCHEMA, key);
}

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}
