/**
 * Maintenance windows (`schedule.windows`, issue 9): weekly wall-clock
 * intervals in `schedule.timezone`, such as "Sat 02:00-04:00". Checks run at
 * any time; updates wait until a window is open.
 *
 * A window is wall-clock time, which is what an operator means across
 * daylight-saving changes: on the night clocks go forward, "Sun 02:00-04:00"
 * in Europe/Berlin opens at 03:00 (02:00-03:00 does not exist) and lasts one
 * real hour; on the night they go back it lasts three, since 02:00-03:00
 * happens twice. A window that starts inside the repeated hour opens twice
 * that night: America/New_York's "Sun 01:30-03:30" on the night clocks go
 * back is open 01:30-02:00 EDT, shut from 01:00 to 01:30 EST (those wall-clock
 * minutes lie before its start), and open again 01:30-03:30 EST. Windows only
 * gate when an update starts. An end at or before the start crosses midnight
 * ("Sat 23:00-01:00" ends Sunday 01:00); "24:00" is the end of the day.
 *
 * No library does weekly windows in a zone; Intl (built in, with the
 * system's tz database) gives the local wall time of an instant, which is
 * all this needs.
 */

export interface Window {
  /** 0 = Sunday ... 6 = Saturday. */
  day: number;
  /** Minutes after local midnight; `end` may be <= `start` (crosses midnight). */
  start: number;
  end: number;
  text: string;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const SYNTAX =
  /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) ([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$/;

/** The window in `text`, or a reason it is not one (for the config error). */
export function parseWindow(text: string): Window | string {
  const match = SYNTAX.exec(text);
  if (!match) return 'not "Day HH:MM-HH:MM" (Day is Mon..Sun, 24-hour times)';
  const [, day, sh, sm, eh, em] = match as unknown as string[];
  const start = Number(sh) * 60 + Number(sm);
  const end = Number(eh) * 60 + Number(em);
  if (end > 24 * 60) return "ends after 24:00";
  if (end === start) return "is empty (starts where it ends), so it never opens";
  return { day: DAYS.indexOf(day as string), start, end, text };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local weekday and minute of the day of `at` in `timeZone`. */
export function localTime(at: Date, timeZone: string): { day: number; minute: number } {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(timeZone, format);
  }
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const part of format.formatToParts(at)) {
    if (part.type === "weekday") day = DAYS.indexOf(part.value);
    else if (part.type === "hour") hour = Number(part.value);
    else if (part.type === "minute") minute = Number(part.value);
  }
  return { day, minute: hour * 60 + minute };
}

function contains(window: Window, local: { day: number; minute: number }): boolean {
  if (window.end > window.start)
    return local.day === window.day && local.minute >= window.start && local.minute < window.end;
  return (
    (local.day === window.day && local.minute >= window.start) ||
    (local.day === (window.day + 1) % 7 && local.minute < window.end)
  );
}

/** The window open at `at`, or null. */
export function openWindow(windows: readonly Window[], at: Date, timeZone: string): Window | null {
  const local = localTime(at, timeZone);
  return windows.find((window) => contains(window, local)) ?? null;
}

const MINUTE_MS = 60_000;
const WEEK_MINUTES = 7 * 24 * 60;
/** Two weeks: a window inside a skipped daylight-saving hour opens again a week later. */
const HORIZON_MS = 15 * 24 * 60 * MINUTE_MS;
/** More than any zone's daylight-saving shift: the last stretch before a start goes minute by minute. */
const SLACK_MINUTES = 120;

/** Local minutes from `local` to the next window start, as if the zone's offset stayed put. */
function minutesToNextStart(windows: readonly Window[], local: { day: number; minute: number }) {
  const now = local.day * 24 * 60 + local.minute;
  let best = WEEK_MINUTES;
  for (const window of windows) {
    const start = window.day * 24 * 60 + window.start;
    const ahead = (((start - now) % WEEK_MINUTES) + WEEK_MINUTES) % WEEK_MINUTES || WEEK_MINUTES;
    best = Math.min(best, ahead);
  }
  return best;
}

/**
 * The first instant at or after `from` when a window is open, to the minute
 * (windows start on whole local minutes, and every zone's offset is a whole
 * number of minutes). It jumps ahead by local minutes to the next start,
 * less a slack larger than any daylight-saving shift, then steps minute by
 * minute, so it neither overshoots a start nor walks a whole week. Null when
 * none opens within two weeks, which for weekly windows means never.
 */
export function nextOpening(
  windows: readonly Window[],
  from: Date,
  timeZone: string,
): { at: Date; window: Window } | null {
  const open = openWindow(windows, from, timeZone);
  if (open) return { at: from, window: open };
  let t = Math.ceil(from.getTime() / MINUTE_MS) * MINUTE_MS;
  while (t - from.getTime() <= HORIZON_MS) {
    const at = new Date(t);
    const local = localTime(at, timeZone);
    const window = windows.find((w) => contains(w, local));
    if (window) return { at, window };
    const ahead = minutesToNextStart(windows, local);
    t += (ahead > SLACK_MINUTES ? ahead - SLACK_MINUTES : 1) * MINUTE_MS;
  }
  return null;
}

/** When the window open at `at` closes (the first minute it is not open). */
export function windowCloses(window: Window, at: Date, timeZone: string): Date {
  let t = Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS;
  for (let i = 0; i <= 2 * 24 * 60; i++, t += MINUTE_MS) {
    if (!contains(window, localTime(new Date(t), timeZone))) return new Date(t);
  }
  return new Date(t);
}
