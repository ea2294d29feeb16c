import assert from "node:assert/strict";

/** A small parser of the Prometheus text exposition format: every sample must follow its TYPE line. */
export function parseExposition(text: string): Map<string, number> {
  const typed = new Set<string>();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE ([a-z_]+) (gauge|counter)$/.exec(line);
    if (type) {
      typed.add(type[1] as string);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const sample = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${JSON.stringify(line)}`);
    assert.ok(typed.has(sample[1] as string), `no TYPE before ${sample[1]}`);
    samples.set(`${sample[1]}${sample[2] ?? ""}`, Number(sample[3]));
  }
  return samples;
}
