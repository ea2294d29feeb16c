/** A value as a refusal names what it found: `string "x"`, `integer 3`, `a list of 2`, `a table`, `nothing`. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === "number")
    return `${Number.isInteger(value) ? "integer" : "number"} ${value}`;
  if (typeof value === "boolean") return `boolean ${value}`;
  if (value instanceof Date) return "a date";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return "a table";
}
