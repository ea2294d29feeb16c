/**
 * What the receiver accepts as a report (docs/protocol.md section 4). The
 * host builds reports in report/build.ts; this is the other side's check of
 * bytes anyone with a fleet certificate can send. Unknown fields are kept
 * (a newer host may add one), so the object passes through; every refusal
 * names the field, what was expected and what was found.
 */
import { z } from "zod";
import { REPORT_LINE_MAX } from "../report/build.js";
import { REPORT_STATUSES } from "../report/statuses.js";

// The host cuts its lines at REPORT_LINE_MAX and sends the last 8 KiB of stderr.
const LINE = REPORT_LINE_MAX;
const STDERR = 16 * 1024;
const iso = z
  .string()
  .refine((v) => /^\d{4}-\d\d-\d\dT/.test(v) && Number.isFinite(Date.parse(v)), {
    message: "expected an ISO 8601 time",
  });
const release = z
  .object({
    sha: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, { message: "expected a lowercase hex sha of 7 to 64 characters" }),
    version: z.string().max(128).nullable(),
  })
  .nullable();

const REPORT = z.looseObject({
  // lowercase only, as hosts make them: "ABC..." must not be a second copy of "abc..."
  id: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
    message: "expected a lowercase UUID",
  }),
  host_id: z.string().min(1).max(255),
  updater_version: z.string().min(1).max(128),
  status: z.enum(REPORT_STATUSES),
  from: release,
  to: release,
  manifest_serial: z.number().int().min(0).nullable(),
  started_at: iso,
  finished_at: iso,
  steps: z
    .array(z.object({ name: z.string().min(1).max(64), ms: z.number().min(0), ok: z.boolean() }))
    .max(64),
  error: z.string().max(LINE).nullable(),
  stderr: z.string().max(STDERR).nullable(),
  manual: z.boolean().optional(),
  component: z.literal("updater").optional(),
  warnings: z.array(z.string().max(LINE)).max(32).optional(),
});

export type ReceivedReport = z.infer<typeof REPORT>;

/** What a refused field looks like in the answer: `field to.sha: expected ..., found ...`. */
function describeIssue(issue: z.core.$ZodIssue, body: unknown): string {
  const path = issue.path.map(String).join(".");
  let found: unknown = body;
  for (const part of issue.path)
    found = (found as Record<PropertyKey, unknown> | undefined)?.[part as string];
  const shown =
    found === undefined
      ? "nothing"
      : typeof found === "string"
        ? JSON.stringify(found.length > 40 ? `${found.slice(0, 37)}...` : found)
        : Array.isArray(found)
          ? `a list of ${found.length}`
          : found === null
            ? "null"
            : typeof found === "object"
              ? "an object"
              : String(found);
  return `field ${path || "(the body)"}: ${issue.message}, found ${shown}`;
}

export type Checked = { ok: true; report: ReceivedReport } | { ok: false; why: string };

/** The path of the first string holding a NUL (PostgreSQL's text cannot: it would fail forever). */
function nulAt(value: unknown, path: string[] = []): string | null {
  if (typeof value === "string")
    return value.includes("\u0000") ? path.join(".") || "(the body)" : null;
  if (typeof value !== "object" || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    if (nulAt(key)) return [...path, "(a key)"].join(".");
    const found = nulAt(item, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}

/** The parsed JSON body, checked; the first wrong field is named. */
export function checkReport(body: unknown): Checked {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { ok: false, why: "the body is not a JSON object" };
  const parsed = REPORT.safeParse(body, {
    error: (issue) =>
      issue.code === "invalid_type"
        ? `expected ${issue.expected}`
        : issue.code === "invalid_value"
          ? `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`
          : undefined,
  });
  if (parsed.success) {
    const nul = nulAt(body);
    if (nul !== null) return { ok: false, why: `field ${nul}: a NUL character` };
    return { ok: true, report: parsed.data };
  }
  return { ok: false, why: describeIssue(parsed.error.issues[0] as z.core.$ZodIssue, body) };
}
