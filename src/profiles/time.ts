/**
 * Time values in profiles (profiles spec §3): a number means hours; a string is a literal such as
 * `30s`, `1.5m`, `2h`, `1d`.
 *
 * Seconds are computed exactly as the original does, because comparisons such as "does this
 * child start after the repeat's cycle" are made on these doubles:
 * - hours: `hours * 60 * 60`, two multiplications (`0.001` h → 3.5999999999999996 s);
 * - literals: one multiplication by 1, 60, 3600 or 86400 (`"0.001h"` → 3.6 s).
 * Compare in seconds; convert to milliseconds (unrounded) only to arm a timer.
 */
import { PyInt } from "../util/python-format";

export type TimeInput = number | PyInt | string;

export class TimeValueError extends Error {
  override readonly name = "TimeValueError";
}

const LITERAL = /^([0-9]*\.?[0-9]+)([smhd])$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60.0, h: 3600.0, d: 86400.0 };

export function invalidLiteralMessage(value: string): string {
  return `Invalid time literal '${value}'. Expected float hours or string like '10s', '15m', '1.5h', '2d'.`;
}

/** Hours to seconds, evaluated left to right as the original does. */
export function hoursToSeconds(hours: number): number {
  return hours * 60 * 60;
}

/** Seconds to hours, as the original computes elapsed hours for `hours_elapsed`. */
export function secondsToHours(seconds: number): number {
  return seconds / 60.0 / 60.0;
}

/** Throws `TimeValueError` with the original's message for anything it would reject. */
export function timeToSeconds(value: TimeInput): number {
  if (value instanceof PyInt) return hoursToSeconds(value.value);
  if (typeof value === "number") return hoursToSeconds(value);
  if (typeof value !== "string") throw new TimeValueError(`Invalid time literal type: ${typeof value}`);
  const m = LITERAL.exec(value.trim().toLowerCase());
  if (!m) throw new TimeValueError(invalidLiteralMessage(value));
  return Number(m[1]) * UNIT_SECONDS[m[2]];
}

/** Milliseconds for a timer; not rounded, so ordering decided in seconds is never changed. */
export function secondsToMs(seconds: number): number {
  return seconds * 1000;
}

export function timeToMs(value: TimeInput): number {
  return secondsToMs(timeToSeconds(value));
}

export type TimeCheck =
  | { ok: true; seconds: number }
  | { ok: false; code: "time.invalid" | "time.negative" | "time.non_positive"; message: string };

/**
 * The validator's check of one time field: invalid literal, negative (start times), or not
 * greater than zero (`every`, `repeat_every_hours`, `max_time`, `max_hours`).
 */
export function checkTimeField(fieldName: string, value: TimeInput, mustBePositive: boolean): TimeCheck {
  let seconds: number;
  try {
    seconds = timeToSeconds(value);
  } catch (err) {
    if (err instanceof TimeValueError) return { ok: false, code: "time.invalid", message: err.message };
    throw err;
  }
  if (mustBePositive && seconds <= 0) {
    return { ok: false, code: "time.non_positive", message: `\`${fieldName}\` must be greater than zero.` };
  }
  if (!mustBePositive && seconds < 0) {
    return { ok: false, code: "time.negative", message: `\`${fieldName}\` cannot be negative.` };
  }
  return { ok: true, seconds };
}
