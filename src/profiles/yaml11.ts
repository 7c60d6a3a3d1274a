/**
 * YAML 1.1 scalar resolution exactly as PyYAML's SafeLoader does it, which is what the original
 * reads profiles with (profiles spec §2.1). The `yaml` package's own 1.1 schema differs in edge
 * cases (`1e3`, `y`/`n`, `-.5`), so plain scalars are resolved here from their text.
 *
 * Values: ints are `PyInt`, floats are plain numbers, so Python's `400` and `400.0` stay apart.
 * Dates and timestamps stay as their source text (Python would make `date` objects; their JSON
 * form is that same text).
 */
import { PyInt } from "../util/python-format";

export type YamlScalar = null | boolean | number | PyInt | string;

const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const TIMESTAMP =
  /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/;

function sexagesimal(parts: number[]): number {
  let value = 0;
  for (const p of parts) value = value * 60 + p;
  return value;
}

export function constructInt(text: string): PyInt {
  let s = text.replace(/_/g, "");
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  let value: number;
  if (s === "0") value = 0;
  else if (s.startsWith("0b")) value = Number.parseInt(s.slice(2), 2);
  else if (s.startsWith("0x")) value = Number.parseInt(s.slice(2), 16);
  else if (s[0] === "0") value = Number.parseInt(s, 8);
  else if (s.includes(":")) value = sexagesimal(s.split(":").map((p) => Number.parseInt(p, 10)));
  else value = Number.parseInt(s, 10);
  if (Number.isNaN(value)) throw new RangeError(`invalid literal for int(): '${text}'`);
  return new PyInt(sign * value);
}

export function constructFloat(text: string): number {
  let s = text.replace(/_/g, "").toLowerCase();
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === ".inf") return sign * Number.POSITIVE_INFINITY;
  if (s === ".nan") return Number.NaN;
  if (s.includes(":")) return sign * sexagesimal(s.split(":").map(Number));
  const value = Number(s);
  if (Number.isNaN(value) || s === "") throw new RangeError(`could not convert string to float: '${text}'`);
  return sign * value;
}

/** The value PyYAML gives an untagged plain scalar. */
export function resolvePlainScalar(text: string): YamlScalar {
  if (NULL.test(text)) return null;
  if (BOOL.test(text)) return /^(?:yes|true|on)$/i.test(text);
  if (INT.test(text)) return constructInt(text);
  if (FLOAT.test(text)) return constructFloat(text);
  if (TIMESTAMP.test(text)) return text;
  return text;
}

const TAG_PREFIX = "tag:yaml.org,2002:";

/**
 * The value for an explicitly tagged scalar (`!!str 1.0`, `!!float 1`). Throws a message in
 * PyYAML's words for tags SafeLoader cannot construct.
 */
export function resolveTaggedScalar(tag: string, text: string): YamlScalar {
  const name = tag.startsWith(TAG_PREFIX) ? tag.slice(TAG_PREFIX.length) : undefined;
  switch (name) {
    case "str":
      return text;
    case "int":
      return constructInt(text);
    case "float":
      return constructFloat(text);
    case "bool":
      return /^(?:yes|true|on)$/i.test(text);
    case "null":
      return null;
    case "timestamp":
      return text;
    default:
      throw new RangeError(`could not determine a constructor for the tag '${name ? TAG_PREFIX + name : tag}'`);
  }
}
