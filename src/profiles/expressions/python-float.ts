/**
 * Python's `float(str)` and the original's `convert_string`, which MQTT lookup results go through:
 * numeric text becomes a float (`" 42 "`, `"1e3"`, `"1_0"`, `"nan"`, `"-inf"` all count),
 * `true`/`false` in any case become booleans, anything else stays a string.
 */
import type { PyValue } from "./values";

const DIGITS = "[0-9](?:_?[0-9])*";
const PY_FLOAT = new RegExp(
  `^[+-]?(?:(?:${DIGITS}\\.(?:${DIGITS})?|\\.${DIGITS}|${DIGITS})(?:[eE][+-]?${DIGITS})?|inf|infinity|nan)$`,
  "i",
);

/** `float(text)`, or undefined where Python would raise ValueError. */
export function parsePythonFloat(text: string): number | undefined {
  const s = text.trim();
  if (!PY_FLOAT.test(s)) return undefined;
  const lower = s.toLowerCase().replace(/_/g, "");
  const sign = lower.startsWith("-") ? -1 : 1;
  const body = lower.replace(/^[+-]/, "");
  if (body === "nan") return Number.NaN;
  if (body === "inf" || body === "infinity") return sign * Number.POSITIVE_INFINITY;
  return Number(lower);
}

export function convertString(value: PyValue): PyValue {
  if (typeof value !== "string") return value;
  const asFloat = parsePythonFloat(value);
  if (asFloat !== undefined) return asFloat;
  const lower = value.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  return value;
}
