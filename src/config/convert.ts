/**
 * Conversions of config strings with Python's rules, because a config.ini that works with the
 * original must give the same numbers and booleans here: `int()` accepts " 12 " and "1_000" but
 * not "1.0"; `float()` accepts "inf", "nan", ".5" and "1e3"; configparser booleans are
 * 1/yes/true/on and 0/no/false/off in any case.
 */
import { PY_SPACE } from "./python-text";

const TRIM = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, "g");
const DIGITS = String.raw`\d(?:_?\d)*`;
const PY_INT = new RegExp(`^[+-]?${DIGITS}$`);
const PY_FLOAT = new RegExp(`^[+-]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?$`);
const PY_FLOAT_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

const BOOLEAN_STATES = new Map<string, boolean>([
  ["1", true],
  ["yes", true],
  ["true", true],
  ["on", true],
  ["0", false],
  ["no", false],
  ["false", false],
  ["off", false],
]);

/** The configparser boolean spellings, for error messages. */
export const BOOLEAN_SPELLINGS = "1/yes/true/on or 0/no/false/off";

/** Python `int(s)` for base-10 strings; undefined when Python would raise ValueError. */
export function parsePyInt(s: string): number | undefined {
  const t = s.replace(TRIM, "");
  if (!PY_INT.test(t)) return undefined;
  return Number.parseInt(t.replaceAll("_", ""), 10);
}

/** Python `float(s)`; undefined when Python would raise ValueError. */
export function parsePyFloat(s: string): number | undefined {
  const t = s.replace(TRIM, "");
  const special = PY_FLOAT_SPECIAL.exec(t);
  if (special) {
    if (special[2].toLowerCase() === "nan") return Number.NaN;
    return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (!PY_FLOAT.test(t)) return undefined;
  return Number(t.replaceAll("_", ""));
}

/** configparser's `getboolean` conversion; undefined for anything else. */
export function parseConfigBoolean(s: string): boolean | undefined {
  return BOOLEAN_STATES.get(s.toLowerCase());
}
