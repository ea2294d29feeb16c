/**
 * Whether a value read from a file is acceptable: plain predicates with
 * zod's meaning where it matters (finite numbers, safe integers), not zod
 * itself, whose import and schema building cost more than the rest of
 * `status` (docs/performance.md). The config's schema table is built from
 * them, and so is the check of the daemon's daemon.json.
 */
export type Check = (value: unknown) => boolean;

const isString = (value: unknown): value is string => typeof value === "string";
const isNumber = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);

export const string: Check = isString;
export const boolean: Check = (value) => typeof value === "boolean";
export const positive: Check = (value) => isNumber(value) && value > 0;
export const positiveInt: Check = (value) => Number.isSafeInteger(value) && (value as number) > 0;
export const atLeastZero: Check = (value) => isNumber(value) && value >= 0;
export const atLeastZeroInt: Check = (value) =>
  Number.isSafeInteger(value) && (value as number) >= 0;
export const nonEmpty: Check = (value) => isString(value) && value.length >= 1;
export const refine =
  (test: (value: string) => boolean): Check =>
  (value) =>
    isString(value) && test(value);
export const regex = (pattern: RegExp): Check => refine((value) => pattern.test(value));
export const oneOf =
  (...options: string[]): Check =>
  (value) =>
    isString(value) && options.includes(value);
export const arrayOf =
  (item: Check, min = 0): Check =>
  (value) =>
    Array.isArray(value) && value.length >= min && value.every(item);
export const nullable =
  (check: Check): Check =>
  (value) =>
    value === null || check(value);

/**
 * `doc` as a T when it is an object whose every field of `fields` passes its
 * check, with those fields only (others dropped); else null.
 */
export function checkedObject<T>(doc: unknown, fields: { [K in keyof T]-?: Check }): T | null {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return null;
  const source = doc as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const [key, check] of Object.entries(fields) as Array<[string, Check]>) {
    if (!Object.hasOwn(source, key) || !check(source[key])) return null;
    picked[key] = source[key];
  }
  return picked as T;
}
