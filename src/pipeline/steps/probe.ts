/**
 * Is the agent healthy, and is it the release we just installed?
 *
 * Probes over mTLS until the first 200 (probe.attempts, probe.backoff_s
 * apart), then keeps probing for probe.soak_s: an agent that answers once and
 * then crashes is not healthy. With probe.identity the health JSON's `sha` or
 * `version` must be the expected release's, so an old agent still holding the
 * port does not pass for the new one.
 *
 * While nothing listens yet (connection refused) it asks again every 25 ms
 * instead of every backoff_s, and each backoff_s of refusals counts as one
 * attempt, so a dead agent is given up after the same attempts x backoff_s.
 * A refused connect costs a fraction of a millisecond, and the agent's first
 * healthy answer ends the unavailability window: waiting a whole backoff_s
 * after the agent came up was most of the window (docs/performance.md).
 */
import { oneLine } from "../../errors.js";
import { isConnectionRefused } from "../../http/errors.js";
import { boundedGet } from "../../http/get.js";
import type { HttpClient } from "../../http/tls.js";

/** How soon a refused connection is retried. */
export const REFUSED_RETRY_MS = 25;

export interface ProbeInput {
  client: HttpClient;
  url: string;
  attempts: number;
  backoffMs: number;
  soakMs: number;
  identity: "if-present" | "required" | "off";
  expect: { sha: string; version: string | null };
  sleep: (ms: number) => Promise<void>;
  monotonicMs: () => number;
  log: { info(fields: object, message: string): void };
}

export interface ProbeResult {
  healthy: boolean;
  /** One line: why not healthy, or what answered. */
  detail: string;
  attempts: number;
}

interface Problem {
  detail: string;
  /** Nothing listens on the port (yet). */
  refused: boolean;
}

/** One probe: null when healthy and the right release, else why not. Only HTTP 200 is healthy. */
async function probeOnce(input: ProbeInput): Promise<Problem | null> {
  let body: Buffer | undefined;
  try {
    const answer = await boundedGet(input.url, {
      client: input.client,
      maxBytes: 64 * 1024,
      deadlineMs: Math.max(2000, input.backoffMs * 4),
      what: "probe",
    });
    // SPEC section 3: "200 means healthy". A 204, 202 or 304 is an agent that did not say so.
    if (answer.status !== 200)
      return { detail: `probe ${input.url}: HTTP ${answer.status}, expected 200`, refused: false };
    body = answer.body;
  } catch (error) {
    return { detail: oneLine(error), refused: isConnectionRefused(error) };
  }
  const mismatch = identityMismatch(input, body);
  return mismatch === null ? null : { detail: mismatch, refused: false };
}

/** Why the answer is not the expected release's, or null. */
function identityMismatch(input: ProbeInput, body: Buffer | undefined): string | null {
  if (input.identity === "off") return null;
  let doc: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse((body ?? Buffer.alloc(0)).toString("utf8"));
    if (typeof parsed === "object" && parsed !== null) doc = parsed as Record<string, unknown>;
  } catch {
    // not JSON: no identity to compare
  }
  const { sha, version } = doc;
  if (typeof sha === "string" && sha !== input.expect.sha)
    return `the agent runs sha ${sha}, expected ${input.expect.sha}`;
  if (
    typeof version === "string" &&
    input.expect.version !== null &&
    version !== input.expect.version
  ) {
    return `the agent runs version ${version}, expected ${input.expect.version}`;
  }
  if (input.identity === "required" && typeof sha !== "string" && typeof version !== "string") {
    return "the health answer carries no sha or version (probe.identity = required)";
  }
  return null;
}

export async function probeHealth(input: ProbeInput): Promise<ProbeResult> {
  let last = "not probed";
  let failures = 0;
  let refusedMs = 0;
  let probes = 0;
  const used = () => failures + Math.floor(refusedMs / input.backoffMs);
  while (used() < input.attempts) {
    const started = input.monotonicMs();
    probes++;
    const problem = await probeOnce(input);
    if (problem === null) {
      input.log.info(
        { step: "probe", probes, soak_s: input.soakMs / 1000 },
        "The agent answered healthy; soaking.",
      );
      return soak(input, probes);
    }
    last = problem.detail;
    if (!problem.refused) {
      failures++;
      if (used() < input.attempts) await input.sleep(input.backoffMs);
      continue;
    }
    await input.sleep(Math.min(REFUSED_RETRY_MS, input.backoffMs));
    refusedMs += input.monotonicMs() - started;
  }
  return {
    healthy: false,
    detail: `unhealthy after ${probes} probes (${input.attempts} x ${input.backoffMs / 1000} s): ${last}`,
    attempts: probes,
  };
}

async function soak(input: ProbeInput, attempts: number): Promise<ProbeResult> {
  const end = input.monotonicMs() + input.soakMs;
  let count = attempts;
  while (input.monotonicMs() < end) {
    await input.sleep(Math.min(input.backoffMs, Math.max(0, end - input.monotonicMs())));
    count++;
    const problem = await probeOnce(input);
    if (problem !== null) {
      return {
        healthy: false,
        detail: `healthy, then failed during the ${input.soakMs / 1000} s soak: ${problem.detail}`,
        attempts: count,
      };
    }
  }
  return {
    healthy: true,
    detail: `healthy after ${attempts} probe(s), stayed healthy for ${input.soakMs / 1000} s`,
    attempts: count,
  };
}
