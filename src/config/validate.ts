/**
 * Checks merged config keys against `SCHEMA` and builds the typed Config.
 * Every failure is one line: file, key, what was expected, what was found.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { oneLine, UpdaterError } from "../errors.js";
import { checkTrustedPath } from "../fs/trust.js";
import { nextOpening, parseWindow, type Window } from "../schedule/windows.js";
import { PUBLIC_KEY_LINE, type PublicKey, parsePublicKey } from "../signing/minisign.js";
import { describe } from "./describe.js";
import { msOf, parseDurationSeconds } from "./duration.js";
import type { FlatConfig, LoadOptions } from "./flat.js";
import { isSchemaKey, type KeySpec, SCHEMA, type SchemaKey } from "./schema.js";
import type { Config } from "./types.js";

const KEY_LINE = PUBLIC_KEY_LINE;

function configError(file: string, key: string, expected: string, found: string): UpdaterError {
  return new UpdaterError(
    "E_CONFIG",
    `config ${file}: key ${key}: expected ${expected}, found ${found}`,
  );
}

export function validateConfig(flat: FlatConfig, files: string[], options: LoadOptions): Config {
  const mainFile = files[0] as string;
  for (const [key, { file }] of flat) {
    // Own keys only: "constructor", "toString" or "__proto__" are not schema keys.
    if (!isSchemaKey(key)) {
      const section = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
      const known = Object.keys(SCHEMA)
        .filter((k) => (section ? k.startsWith(`${section}.`) : !k.includes(".")))
        .map((k) => k.slice(section ? section.length + 1 : 0));
      const expected = known.length
        ? `one of ${section ? `[${section}] ` : "the top-level keys "}${known.join(", ")}`
        : "a known section";
      throw configError(file, key, expected, "an unknown key");
    }
  }

  const values = new Map<string, unknown>();
  for (const [key, spec] of Object.entries(SCHEMA)) {
    const set = flat.get(key);
    if (set === undefined) {
      if (spec.required)
        throw configError(mainFile, key, spec.expected, "nothing (the key is required)");
      const fallback =
        key === "host_id" && options.defaultHostId ? options.defaultHostId : spec.default;
      values.set(key, typeof fallback === "function" ? fallback() : fallback);
      continue;
    }
    if (!spec.check(set.value)) {
      throw configError(set.file, key, spec.expected, describe(set.value));
    }
    values.set(key, resolvePaths(spec, set.value, set.file));
  }

  const get = <T>(key: SchemaKey) => values.get(key) as T;
  const url = new URL(get<string>("feed.url"));
  if (url.protocol === "https:") {
    for (const key of ["feed.ca", "feed.cert", "feed.key"] as const) {
      if (get(key) === undefined) {
        throw configError(
          mainFile,
          key,
          "a PEM file path (required when feed.url is https)",
          "nothing",
        );
      }
    }
  }
  const keysOf = (key: "feed.trusted_keys" | "self_update.trusted_keys") =>
    get<string[]>(key).map((entry, index) =>
      loadTrustedKey(entry, `${key}[${index}]`, flat.get(key)?.file ?? mainFile),
    );
  const trustedKeys = keysOf("feed.trusted_keys");
  if (get<boolean>("self_update.enabled") && get("self_update.feed_url") === undefined) {
    throw configError(
      flat.get("self_update.enabled")?.file ?? mainFile,
      "self_update.feed_url",
      "an http(s) URL (required when self_update.enabled is true)",
      "nothing",
    );
  }
  const failedRelease = get<string>("retry.failed_release");
  const windows = windowsOf(
    get<string[] | undefined>("schedule.windows"),
    get<string>("schedule.timezone"),
    flat.get("schedule.windows")?.file ?? mainFile,
  );
  const minAge = get<string | undefined>("pin.min_age");
  const heartbeat = get<string>("feed.heartbeat");
  const failedReleaseS =
    failedRelease === "never" ? null : (parseDurationSeconds(failedRelease) ?? null);

  return {
    files,
    host_id: get("host_id"),
    install_dir: get("install_dir"),
    state_dir: get("state_dir"),
    feed: {
      url: get("feed.url"),
      report_url: get("feed.report_url"),
      heartbeat_ms: heartbeat === "0" ? 0 : msOf(parseDurationSeconds(heartbeat) as number),
      ca: get("feed.ca"),
      cert: get("feed.cert"),
      key: get("feed.key"),
      server_name: get("feed.server_name"),
      channel: get("feed.channel"),
      trusted_keys: trustedKeys,
      timeout_s: get("feed.timeout_s"),
      timeout_ms: msOf(get("feed.timeout_s")),
      max_manifest_bytes: get("feed.max_manifest_bytes"),
      component: "decnet",
    },
    schedule: {
      cron: get("schedule.cron"),
      timezone: get("schedule.timezone"),
      splay_s: get("schedule.splay_s"),
      run_on_start: get("schedule.run_on_start"),
      ...(windows ? { windows } : {}),
    },
    pin: {
      version: get("pin.version"),
      sha: get("pin.sha"),
      hold: get("pin.hold"),
      ...(minAge !== undefined
        ? {
            min_age_s: parseDurationSeconds(minAge) as number,
            min_age_ms: msOf(parseDurationSeconds(minAge) as number),
          }
        : {}),
    },
    install: {
      python: get("install.python"),
      command: get("install.command"),
      smoke: get("install.smoke"),
      timeout_s: get("install.timeout_s"),
      timeout_ms: msOf(get("install.timeout_s")),
      path_symlink: get("install.path_symlink"),
    },
    units: { dir: get("units.dir"), allow: get("units.allow") },
    restart: {
      mode: get("restart.mode"),
      units: get("restart.units"),
      optional_units: get("restart.optional_units"),
      command: get("restart.command"),
      stop_grace_s: get("restart.stop_grace_s"),
      stop_grace_ms: msOf(get("restart.stop_grace_s")),
    },
    probe: {
      url: get("probe.url"),
      ca: get("probe.ca"),
      cert: get("probe.cert"),
      key: get("probe.key"),
      attempts: get("probe.attempts"),
      backoff_s: get("probe.backoff_s"),
      backoff_ms: msOf(get("probe.backoff_s")),
      soak_s: get("probe.soak_s"),
      soak_ms: msOf(get("probe.soak_s")),
      identity: get("probe.identity"),
    },
    retry: {
      failed_release_s: failedReleaseS,
      failed_release_ms: failedReleaseS === null ? null : msOf(failedReleaseS),
      max_install_attempts: get("retry.max_install_attempts"),
    },
    limits: {
      max_download_bytes: get("limits.max_download_bytes"),
      max_unpacked_bytes: get("limits.max_unpacked_bytes"),
      max_entries: get("limits.max_entries"),
      install_reserve_bytes: get("limits.install_reserve_bytes"),
      max_updates_per_day: get("limits.max_updates_per_day"),
    },
    metrics: { textfile: get("metrics.textfile") },
    log: { level: get("log.level") },
    self_update: {
      enabled: get("self_update.enabled"),
      feed_url: get("self_update.feed_url"),
      install_dir: get("self_update.install_dir"),
      trusted_keys:
        get("self_update.trusted_keys") === undefined
          ? trustedKeys
          : keysOf("self_update.trusted_keys"),
    },
  };
}

/** Parses `schedule.windows`; a list that can never open is an error, not a silent freeze. */
function windowsOf(
  list: string[] | undefined,
  timeZone: string,
  file: string,
): Window[] | undefined {
  if (list === undefined) return undefined;
  if (list.length === 0) {
    throw configError(
      file,
      "schedule.windows",
      "at least one window (remove the key to allow updates at any time)",
      "[] (no window: updates could never run)",
    );
  }
  const windows = list.map((text, index) => {
    const window = parseWindow(text);
    if (typeof window === "string")
      throw configError(
        file,
        `schedule.windows[${index}]`,
        'a window like "Sat 02:00-04:00" that can open',
        `${JSON.stringify(text)}, which ${window}`,
      );
    return window;
  });
  if (nextOpening(windows, new Date(), timeZone) === null) {
    throw configError(
      file,
      "schedule.windows",
      `windows that open in ${timeZone}`,
      `${describe(list)}, which never open`,
    );
  }
  return windows;
}

function resolvePaths(spec: KeySpec, value: unknown, file: string): unknown {
  const base = dirname(file);
  if (spec.path === "one" && typeof value === "string" && value !== "") {
    return isAbsolute(value) ? value : resolve(base, value);
  }
  if (spec.path === "each-unless-key" && Array.isArray(value)) {
    return value.map((entry: string) =>
      KEY_LINE.test(entry) || isAbsolute(entry) ? entry : resolve(base, entry),
    );
  }
  return value;
}

function loadTrustedKey(entry: string, key: string, file: string): PublicKey {
  if (KEY_LINE.test(entry)) {
    try {
      return parsePublicKey(entry, key);
    } catch (error) {
      throw configError(
        file,
        key,
        "a minisign public key",
        `${describe(entry)} (${oneLine(error)})`,
      );
    }
  }
  // A key file anyone else can change is a key anyone else can choose.
  checkTrustedPath({ key, path: entry, kind: "file" }, process.getuid?.() ?? 0);
  let text: string;
  try {
    text = readFileSync(entry, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? oneLine(error);
    throw configError(
      file,
      key,
      "a minisign public key or a readable .pub file",
      `${entry} (${code})`,
    );
  }
  try {
    return parsePublicKey(text, entry);
  } catch (error) {
    throw configError(file, key, "a minisign public key file", `${entry} (${oneLine(error)})`);
  }
}
