import type { Window } from "../schedule/windows.js";
import type { PublicKey } from "../signing/minisign.js";

/** What a feed is for (SPEC section 14, §4): hosts refuse a manifest for another component. */
export type Component = "decnet" | "decnet-updater";

/**
 * The validated configuration. Field names mirror the TOML keys of
 * `schema.ts` (units in the names); paths are absolute; trusted keys are parsed.
 */
export interface Config {
  /** The main file and the drop-ins that were merged, in order. */
  files: string[];
  host_id: string;
  install_dir: string;
  state_dir: string;
  feed: {
    url: string;
    report_url?: string;
    /** feed.heartbeat in milliseconds; 0: no heartbeat. */
    heartbeat_ms: number;
    ca?: string;
    cert?: string;
    key?: string;
    server_name?: string;
    channel: string;
    trusted_keys: PublicKey[];
    timeout_s: number;
    /** timeout_s, converted once at load (as every *_ms below). */
    timeout_ms: number;
    max_manifest_bytes: number;
    /**
     * Not a key: what this feed's manifests are for. Always "decnet" for
     * [feed]; the updater's own cycle sets "decnet-updater" (self-update/cycle.ts).
     */
    component: Component;
  };
  schedule: {
    cron: string;
    timezone: string;
    splay_s: number;
    run_on_start: boolean;
    /** Maintenance windows; absent: updates at any time. */
    windows?: Window[];
  };
  /** min_age became seconds (min_age_s). */
  pin: { version?: string; sha?: string; hold: boolean; min_age_s?: number; min_age_ms?: number };
  install: {
    python: string;
    command: string[];
    smoke: string[];
    timeout_s: number;
    timeout_ms: number;
    path_symlink: string;
  };
  units: { dir: string; allow: string[] };
  restart: {
    mode: "systemd" | "process" | "auto";
    units: string[];
    optional_units: string[];
    command: string[];
    stop_grace_s: number;
    stop_grace_ms: number;
  };
  probe: {
    url: string;
    ca: string;
    cert: string;
    key: string;
    attempts: number;
    backoff_s: number;
    backoff_ms: number;
    soak_s: number;
    soak_ms: number;
    identity: "if-present" | "required" | "off";
  };
  /** failed_release: "never" became null, a duration became seconds. */
  retry: {
    failed_release_s: number | null;
    failed_release_ms: number | null;
    max_install_attempts: number;
  };
  limits: {
    max_download_bytes: number;
    max_unpacked_bytes: number;
    max_entries: number;
    install_reserve_bytes: number;
    max_updates_per_day: number;
  };
  metrics: { textfile?: string };
  log: { level: "trace" | "debug" | "info" | "warn" | "error" | "silent" };
  /** SPEC section 12; trusted_keys falls back to feed.trusted_keys. */
  self_update: {
    enabled: boolean;
    feed_url?: string;
    install_dir: string;
    trusted_keys: PublicKey[];
  };
}
