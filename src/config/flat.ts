/**
 * The merged configuration before validation: every dotted key with its
 * value and the file that set it (load.ts builds it, validate.ts checks it).
 */

/** A value from a config file and the file that set it. */
export interface SetValue {
  value: unknown;
  file: string;
}

export type FlatConfig = Map<string, SetValue>;

export interface LoadOptions {
  /** Replaces os.hostname() as the default host_id (tests). */
  defaultHostId?: string;
}
