/** AgentDeps for in-process tests: real timers, a silent logger, an optional fixed clock and PATH. */
import type { AgentDeps } from "../../src/host/deps.js";
import { createLogger } from "../../src/log.js";

export function agentDeps(overrides: Partial<AgentDeps> = {}): AgentDeps {
  return {
    log: createLogger("silent", process.stderr),
    now: () => new Date(),
    monotonicMs: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    env: { PATH: process.env.PATH },
    ...overrides,
  };
}
