/**
 * Python's text forms of values, byte for byte: the original publishes `str(value)` on MQTT,
 * writes `repr`-style numbers into log lines, and a Python unit reading our payloads parses them
 * with `float()`/`int()`. JavaScript's `String(n)` differs (`1e-7` vs `1e-07`, `5` vs `5.0`).
 */

/**
 * A number that Python would hold as an `int`. JavaScript has one number type, so a value that
 * must print as `100` rather than `100.0` where the setting is a float is wrapped in this marker.
 */
export class PyInt {
  constructor(readonly value: number) {
    if (!Number.isInteger(value)) throw new RangeError(`PyInt needs an integer, got ${value}`);
  }
  valueOf(): number {
    return this.value;
  }
  toString(): string {
    return formatPyInt(this.value);
  }
}

export function pyInt(value: number): PyInt {
  return new PyInt(value);
}

/** `str(int)` in Python. */
export function formatPyInt(n: number | bigint): string {
  if (typeof n === "bigint") return n.toString();
  if (!Number.isFinite(n)) throw new RangeError(`not an integer: ${n}`);
  // Large integers beyond 2^53 still print without exponent, as Python ints do.
  return BigInt(Math.trunc(n)).toString();
}

/** `repr(float)` / `str(float)` in Python 3: shortest round-trip digits, Python's exponent rules. */
export function formatPyFloat(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Number.POSITIVE_INFINITY) return "inf";
  if (n === Number.NEGATIVE_INFINITY) return "-inf";
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const abs = Math.abs(n);
  if (abs >= 1e-4 && abs < 1e16) {
    // Fast path (hot in profile log messages): here Python and JavaScript both print the shortest
    // round-trip digits positionally; only integral values differ (`5` against `5.0`).
    const text = String(n);
    return text.includes(".") ? text : `${text}.0`;
  }
  const sign = n < 0 ? "-" : "";
  // toExponential() with no argument gives the shortest round-trip digits, like Python's repr.
  const [mant, expText] = Math.abs(n).toExponential().split("e");
  const digits = mant.replace(".", "");
  const exp = Number(expText);
  // Python switches to scientific notation when the decimal exponent is < -4 or >= 16.
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) {
    return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  }
  const intLen = exp + 1;
  if (digits.length <= intLen) {
    return `${sign}${digits}${"0".repeat(intLen - digits.length)}.0`;
  }
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

/** Python's `str(bool)`. */
export function formatPyBool(b: boolean): string {
  return b ? "True" : "False";
}

/**
 * `str(x)` for the scalar values the original puts on the wire and in log lines.
 * Plain JS numbers are treated as Python floats unless they are wrapped in `PyInt`;
 * pass `intIfWhole` where the source value was an integer in Python (for example an `integer` setting).
 */
export function formatPyScalar(value: unknown, opts: { intIfWhole?: boolean } = {}): string {
  if (value === null || value === undefined) return "None";
  if (value instanceof PyInt) return formatPyInt(value.value);
  if (typeof value === "boolean") return formatPyBool(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (opts.intIfWhole && Number.isInteger(value)) return formatPyInt(value);
    return formatPyFloat(value);
  }
  return String(value);
}

function pad(n: number, width: number): string {
  return n.toString().padStart(width, "0");
}

function isoSeconds(d: Date): string {
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`
  );
}

const MS_PER_DAY = 86_400_000;
/** "00" … "99": two-digit fields without a `padStart` each. */
const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));

/**
 * `yyyy-mm-ddThh:mm:ss` (UTC) of an instant, computed from the number itself rather than through
 * six `Date` getters and `padStart`s (or `toISOString`, slower still): every reading formats a few
 * timestamps. The calendar conversion is H. Hinnant's `civil_from_days`; like `Date`, fractions of
 * a millisecond are truncated and the year is not padded.
 */
function isoSecondsOf(ms: number): string {
  const t = Math.trunc(ms);
  const days = Math.floor(t / MS_PER_DAY);
  const secondsOfDay = Math.floor((t - days * MS_PER_DAY) / 1000);
  const hour = Math.floor(secondsOfDay / 3600);
  const minute = Math.floor(secondsOfDay / 60) % 60;
  const second = secondsOfDay % 60;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const m = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * m + 2) / 5) + 1;
  const month = m < 10 ? m + 3 : m - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${year}-${TWO_DIGITS[month]}-${TWO_DIGITS[day]}T${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}`;
}

/** The millisecond field (0–999) of an instant, as `Date#getUTCMilliseconds` gives it. */
function millisOf(ms: number): number {
  const t = Math.trunc(ms);
  return t - Math.floor(t / 1000) * 1000;
}

function threeDigits(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`;
}

/** Outside ±8.64e15 ms a Date is invalid and prints NaN fields; the slow path keeps that text. */
function isValidInstant(ms: number): boolean {
  return Math.abs(ms) <= 8.64e15;
}

/**
 * Timestamps inside struct payloads (msgspec): microseconds as 6 digits when non-zero, omitted
 * when zero. The original truncates "now" to milliseconds, hence `…:30.730000Z`.
 */
export function formatPayloadTimestamp(ms: number): string {
  if (!isValidInstant(ms)) {
    const d = new Date(ms);
    const millis = d.getUTCMilliseconds();
    return millis === 0 ? `${isoSeconds(d)}Z` : `${isoSeconds(d)}.${pad(millis, 3)}000Z`;
  }
  const millis = millisOf(ms);
  return millis === 0 ? `${isoSecondsOf(ms)}Z` : `${isoSecondsOf(ms)}.${threeDigits(millis)}000Z`;
}

/** Timestamps in logs, the job registry and the database: always 3-digit milliseconds + `Z`. */
export function formatMillisTimestamp(ms: number): string {
  if (!isValidInstant(ms)) {
    const d = new Date(ms);
    return `${isoSeconds(d)}.${pad(d.getUTCMilliseconds(), 3)}Z`;
  }
  return `${isoSecondsOf(ms)}.${threeDigits(millisOf(ms))}Z`;
}

/**
 * Python's `json.dumps` with default separators (`", "` and `": "`) and ASCII escaping,
 * as the original uses for `pwms/dc`. Numbers follow the same rules as `formatPyScalar`.
 * Pass a `Map` where key order must survive integer-like keys.
 */
export function pythonJsonDumps(value: unknown, opts: { compact?: boolean } = {}): string {
  const itemSep = opts.compact ? "," : ", ";
  const keySep = opts.compact ? ":" : ": ";
  const enc = (v: unknown): string => {
    if (v === null || v === undefined) return "null";
    if (v instanceof PyInt) return formatPyInt(v.value);
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "number") {
      if (Number.isNaN(v)) return "NaN";
      if (v === Number.POSITIVE_INFINITY) return "Infinity";
      if (v === Number.NEGATIVE_INFINITY) return "-Infinity";
      return formatPyFloat(v);
    }
    if (typeof v === "string") return asciiJsonString(v);
    if (Array.isArray(v)) return `[${v.map(enc).join(itemSep)}]`;
    if (typeof v === "object") {
      // A Map keeps insertion order for integer-like keys ("17" before "13"), as a Python dict does;
      // a plain object would reorder them.
      const entries = v instanceof Map ? [...v.entries()].map(([k, x]) => [String(k), x] as const) : Object.entries(v);
      const parts = entries
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => `${asciiJsonString(k)}${keySep}${enc(x)}`);
      return `{${parts.join(itemSep)}}`;
    }
    return asciiJsonString(String(v));
  };
  return enc(value);
}

/** A JSON string literal with every non-ASCII character escaped as `\uXXXX` (Python's ensure_ascii). */
export function asciiJsonString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
