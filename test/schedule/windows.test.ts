/**
 * Maintenance windows are wall-clock intervals in a zone: tested at the
 * instants where that is hard, the two daylight-saving changes of a European
 * and an American zone, with fixed instants (the fake clock).
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import {
  nextOpening,
  openWindow,
  parseWindow,
  type Window,
  windowCloses,
} from "../../src/schedule/windows.js";
import { writeToml } from "../helpers/config.js";
import { tempDir } from "../helpers/tmp.js";

const PUB = resolve(import.meta.dirname, "../fixtures/minisign/trusted.pub");
const windows = (...texts: string[]) => texts.map((text) => parseWindow(text) as Window);
const at = (iso: string) => new Date(iso);
const opensAt = (list: Window[], from: string, zone: string) =>
  nextOpening(list, at(from), zone)?.at.toISOString() ?? null;
/** The window open at `opening` runs until...: [opens, closes] as UTC instants. */
function span(list: Window[], from: string, zone: string): [string, string] {
  const next = nextOpening(list, at(from), zone);
  assert.ok(next, "a window opens");
  return [next.at.toISOString(), windowCloses(next.window, next.at, zone).toISOString()];
}

describe("maintenance windows", () => {
  test("a window is open from its start to just before its end, on its day, in its zone", () => {
    const sat = windows("Sat 02:00-04:00");
    // 2026-11-28 is a Saturday; Berlin is UTC+1 in November
    assert.equal(openWindow(sat, at("2026-11-28T00:59:00Z"), "Europe/Berlin"), null);
    assert.equal(
      openWindow(sat, at("2026-11-28T01:00:00Z"), "Europe/Berlin")?.text,
      "Sat 02:00-04:00",
    );
    assert.equal(
      openWindow(sat, at("2026-11-28T02:59:00Z"), "Europe/Berlin")?.text,
      "Sat 02:00-04:00",
    );
    assert.equal(openWindow(sat, at("2026-11-28T03:00:00Z"), "Europe/Berlin"), null);
    // the same instant is outside the window in another zone
    assert.equal(openWindow(sat, at("2026-11-28T01:00:00Z"), "America/New_York"), null);
    assert.equal(opensAt(sat, "2026-11-26T12:00:00Z", "Europe/Berlin"), "2026-11-28T01:00:00.000Z");
    assert.equal(opensAt(sat, "2026-11-26T12:00:00Z", "UTC"), "2026-11-28T02:00:00.000Z");
  });

  test("an end at or before the start crosses midnight; 24:00 ends the day", () => {
    const late = windows("Sat 23:00-01:00", "Sun 22:00-24:00");
    assert.equal(openWindow(late, at("2026-11-29T00:30:00Z"), "UTC")?.text, "Sat 23:00-01:00");
    assert.equal(openWindow(late, at("2026-11-29T01:00:00Z"), "UTC"), null);
    assert.equal(openWindow(late, at("2026-11-29T23:59:00Z"), "UTC")?.text, "Sun 22:00-24:00");
    assert.equal(openWindow(late, at("2026-11-30T00:00:00Z"), "UTC"), null);
  });

  test("Europe/Berlin, clocks forward (29 Mar 2026, 02:00 -> 03:00): Sun 02:00-04:00 opens at 03:00 for one hour", () => {
    const sun = windows("Sun 02:00-04:00");
    assert.deepEqual(span(sun, "2026-03-28T12:00:00Z", "Europe/Berlin"), [
      "2026-03-29T01:00:00.000Z", // 03:00 CEST, the first wall-clock minute >= 02:00
      "2026-03-29T02:00:00.000Z", // 04:00 CEST
    ]);
    // a window inside the skipped hour does not open that night; a week later it does
    assert.equal(
      opensAt(windows("Sun 02:15-02:45"), "2026-03-28T12:00:00Z", "Europe/Berlin"),
      "2026-04-05T00:15:00.000Z",
    );
  });

  test("Europe/Berlin, clocks back (25 Oct 2026, 03:00 -> 02:00): Sun 02:00-04:00 lasts three hours", () => {
    const sun = windows("Sun 02:00-04:00");
    assert.deepEqual(span(sun, "2026-10-24T12:00:00Z", "Europe/Berlin"), [
      "2026-10-25T00:00:00.000Z", // 02:00 CEST
      "2026-10-25T03:00:00.000Z", // 04:00 CET, after 02:00-03:00 ran twice
    ]);
    // inside the repeated hour, both times
    assert.ok(openWindow(sun, at("2026-10-25T00:30:00Z"), "Europe/Berlin"));
    assert.ok(openWindow(sun, at("2026-10-25T01:30:00Z"), "Europe/Berlin"));
  });

  test("America/New_York, clocks forward (8 Mar 2026, 02:00 -> 03:00) and back (1 Nov 2026, 02:00 -> 01:00)", () => {
    const sun = windows("Sun 01:30-03:30");
    assert.deepEqual(span(sun, "2026-03-07T12:00:00Z", "America/New_York"), [
      "2026-03-08T06:30:00.000Z", // 01:30 EST
      "2026-03-08T07:30:00.000Z", // 03:30 EDT: one real hour
    ]);
    // back: 01:00-02:00 runs twice, so wall-clock 01:30-03:30 opens at 01:30 EDT, shuts when the
    // clock falls back to 01:00 EST, and opens again at 01:30 EST until 03:30 EST
    assert.deepEqual(span(sun, "2026-10-31T12:00:00Z", "America/New_York"), [
      "2026-11-01T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T06:00:00.000Z", // 02:00 EDT = 01:00 EST
    ]);
    assert.deepEqual(span(sun, "2026-11-01T06:00:00Z", "America/New_York"), [
      "2026-11-01T06:30:00.000Z", // 01:30 EST
      "2026-11-01T08:30:00.000Z", // 03:30 EST
    ]);
  });

  test("a window that cannot be one is refused with the reason", () => {
    assert.equal(
      parseWindow("Sat 02:00-02:00"),
      "is empty (starts where it ends), so it never opens",
    );
    assert.equal(
      parseWindow("Saturday 02:00-04:00"),
      'not "Day HH:MM-HH:MM" (Day is Mon..Sun, 24-hour times)',
    );
    assert.equal(
      parseWindow("Sat 2:00-4:00"),
      'not "Day HH:MM-HH:MM" (Day is Mon..Sun, 24-hour times)',
    );
    assert.equal(parseWindow("Sat 22:00-24:30"), "ends after 24:00");
  });
});

describe("schedule.windows in the configuration", () => {
  async function load(t: Parameters<typeof tempDir>[0], schedule: Record<string, unknown>) {
    const dir = await tempDir(t);
    const file = await writeToml(dir, "updater.toml", {
      feed: { url: "http://127.0.0.1:9/", trusted_keys: [PUB] },
      schedule: schedule as Record<string, string>,
    });
    return { file, config: () => loadConfig(file) };
  }

  test("windows that can never open are an error naming the key and the file", async (t) => {
    const empty = await load(t, { windows: [] });
    await assert.rejects(empty.config(), {
      code: "E_CONFIG",
      message: `config ${empty.file}: key schedule.windows: expected at least one window (remove the key to allow updates at any time), found [] (no window: updates could never run)`,
    });
    const zero = await load(t, { windows: ["Sat 02:00-04:00", "Sun 03:00-03:00"] });
    await assert.rejects(zero.config(), {
      code: "E_CONFIG",
      message: `config ${zero.file}: key schedule.windows[1]: expected a window like "Sat 02:00-04:00" that can open, found "Sun 03:00-03:00", which is empty (starts where it ends), so it never opens`,
    });
  });

  test("valid windows load in the schedule's zone; absent means any time", async (t) => {
    const some = await load(t, { windows: ["Sat 02:00-04:00"], timezone: "Europe/Berlin" });
    const config = await some.config();
    assert.deepEqual(config.schedule.windows, [
      { day: 6, start: 120, end: 240, text: "Sat 02:00-04:00" },
    ]);
    assert.equal((await (await load(t, {})).config()).schedule.windows, undefined);
  });
});
