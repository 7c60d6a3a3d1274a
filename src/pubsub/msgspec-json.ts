/**
 * JSON exactly as the original's msgspec encoder writes it: compact, raw UTF-8 (no `\uXXXX` for
 * non-ASCII), keys in insertion order, floats in msgspec's own shortest form, NaN/Infinity as
 * `null`. Struct payloads, dict settings and every other JSON the Python jobs publish look like
 * this, so readers and byte-level comparisons agree with ours.
 */
import { formatPayloadTimestamp, PyInt } from "../util/python-format";

/**
 * msgspec's float text (it differs from Python's `str`): shortest round-trip digits, positional
 * for decimal exponents -5 < e ≤ 16 counted as digits before the point, otherwise `1.5e-7` /
 * `1e16` with no `+` and no zero padding. Integral values keep a `.0`.
 */
export function formatMsgspecFloat(n: number): string {
  if (!Number.isFinite(n)) return "null";
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const magnitude = Math.abs(n);
  // Where both are positional (1e-5 ≤ |n| < 1e16) JavaScript's own text has the same shortest
  // digits, and nearly every published value is there: a reading publishes a dozen floats.
  if (magnitude >= 1e-5 && magnitude < 1e16) {
    const text = String(n);
    return text.includes(".") ? text : `${text}.0`;
  }
  return byDigits(n);
}

function byDigits(n: number): string {
  const sign = n < 0 ? "-" : "";
  const [mantissa, expText] = Math.abs(n).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const length = digits.length;
  // `pointAt` = how many digits stand before the decimal point in positional notation.
  const pointAt = Number(expText) + 1;
  if (pointAt >= length && pointAt <= 16) return `${sign}${digits}${"0".repeat(pointAt - length)}.0`;
  if (pointAt > 0 && pointAt <= 16) return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  if (pointAt > -5 && pointAt <= 0) return `${sign}0.${"0".repeat(-pointAt)}${digits}`;
  const exponent = `e${pointAt - 1}`;
  return length === 1 ? `${sign}${digits}${exponent}` : `${sign}${digits[0]}.${digits.slice(1)}${exponent}`;
}

/**
 * Encodes a value as msgspec would. Plain numbers are Python floats (`500.0`); wrap integers in
 * `PyInt` (`0`). Use a `Map` where integer-like keys must keep their order. Buffers become base64
 * (msgspec `bytes`), Dates RFC 3339 UTC (`…:30.730000Z`). `undefined` object members are skipped.
 */
export function encodeMsgspecJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof PyInt) return String(value.value);
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return formatMsgspecFloat(value);
    case "bigint":
      return value.toString();
    case "string":
      // JSON.stringify escapes exactly `"`, `\` and control characters, leaving other text raw, as msgspec does.
      return JSON.stringify(value);
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString("base64"));
  if (value instanceof Date) return JSON.stringify(formatPayloadTimestamp(value.getTime()));
  if (Array.isArray(value)) return `[${value.map(encodeMsgspecJson).join(",")}]`;
  if (value instanceof Map) {
    let text = "{";
    for (const [k, v] of value) text = appendMember(text, String(k), v);
    return `${text}}`;
  }
  if (typeof value === "object") {
    // Concatenated in place, without a closure per object: settings and struct payloads are
    // encoded for every publish. `Object.keys` lists the own enumerable keys in `for…in` order.
    const record = value as Record<string, unknown>;
    let text = "{";
    for (const k of Object.keys(record)) text = appendMember(text, k, record[k]);
    return `${text}}`;
  }
  throw new TypeError(`Cannot encode a ${typeof value} as JSON.`);
}

/**
 * `"key":` per member name. Settings and struct payloads repeat a few dozen names millions of
 * times in a simulated week; the cache stops growing at MEMBER_PREFIXES_MAX names (a dict
 * setting with data-derived keys must not make it unbounded) and then quotes afresh.
 */
const memberPrefixes = new Map<string, string>();
const MEMBER_PREFIXES_MAX = 1024;

function memberPrefix(key: string): string {
  let prefix = memberPrefixes.get(key);
  if (prefix === undefined) {
    prefix = `${JSON.stringify(key)}:`;
    if (memberPrefixes.size < MEMBER_PREFIXES_MAX) memberPrefixes.set(key, prefix);
  }
  return prefix;
}

/** `text` (an object's JSON so far, from its `{`) with one more member; `undefined` members are skipped. */
function appendMember(text: string, key: string, v: unknown): string {
  if (v === undefined) return text;
  return `${text}${text.length > 1 ? "," : ""}${memberPrefix(key)}${encodeMsgspecJson(v)}`;
}
