/**
 * Python value semantics for profile expressions.
 *
 * The original evaluates expressions with Python objects, and users see the results in log lines
 * and request bodies, so `1 + 1` must stay distinguishable from `1.0 + 1.0`. Representation:
 * - Python `float`  → JS `number`
 * - Python `int`    → `PyInt` (only from YAML `inputs` and JSON MQTT payloads; literals are floats)
 * - Python `bool`   → JS `boolean` (and behaves as the ints 0/1 in arithmetic, as in Python)
 * - Python `str`    → JS `string`
 * - Python `None`   → `null`
 * - `list` / `dict` → arrays / plain objects (they only pass through, from inputs or JSON payloads)
 */
import { formatPyFloat, formatPyInt, PyInt } from "../../util/python-format";

export { PyInt };

export type PyValue = null | boolean | number | PyInt | string | PyValue[] | PyDict;
export interface PyDict {
  [key: string]: PyValue;
}

/** The Python exception classes whose messages users can see in `Error in action: …` lines. */
export type PyErrorType =
  | "TypeError"
  | "ValueError"
  | "KeyError"
  | "ZeroDivisionError"
  | "OverflowError"
  | "SyntaxError"
  | "NameError"
  | "MQTTValueError"
  | "LexError";

/**
 * An error raised while evaluating an expression. `message` is the text the original logs after
 * `Error in action: ` (for a KeyError that is `e.args[0]`, without Python's quotes).
 */
export class ExpressionError extends Error {
  override readonly name = "ExpressionError";
  constructor(
    readonly pyType: PyErrorType,
    message: string,
  ) {
    super(message);
  }
}

export function isPyDict(v: PyValue): v is PyDict {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof PyInt);
}

/** `type(v).__name__` in Python. */
export function pyTypeName(v: PyValue): string {
  if (v === null) return "NoneType";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return "float";
  if (v instanceof PyInt) return "int";
  if (typeof v === "string") return "str";
  if (Array.isArray(v)) return "list";
  return "dict";
}

/** Python truthiness: False, 0, 0.0, "", None, [] and {} are false. */
export function pyTruthy(v: PyValue): boolean {
  if (v === null) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0; // NaN is truthy in Python too
  if (v instanceof PyInt) return v.value !== 0;
  if (typeof v === "string") return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  return Object.keys(v).length > 0;
}

/** Numbers in Python's numeric tower, with bools counting as ints. */
type Numeric = { kind: "int" | "float"; value: number };

function asNumeric(v: PyValue): Numeric | undefined {
  if (typeof v === "boolean") return { kind: "int", value: v ? 1 : 0 };
  if (v instanceof PyInt) return { kind: "int", value: v.value };
  if (typeof v === "number") return { kind: "float", value: v };
  return undefined;
}

function makeNumber(kind: "int" | "float", value: number): PyValue {
  // An int result that leaves the integers (overflowed to ±inf) degrades to a float; Python ints are
  // unbounded, but nothing a profile does in practice comes close.
  return kind === "int" && Number.isInteger(value) ? new PyInt(value) : value;
}

function unsupported(op: string, a: PyValue, b: PyValue): ExpressionError {
  return new ExpressionError(
    "TypeError",
    `unsupported operand type(s) for ${op}: '${pyTypeName(a)}' and '${pyTypeName(b)}'`,
  );
}

/** Python `==`: never raises; numbers and bools compare numerically; containers compare deeply. */
export function pyEquals(a: PyValue, b: PyValue): boolean {
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (na && nb) return na.value === nb.value;
  if (na || nb) return false;
  if (a === null || b === null) return a === b;
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => pyEquals(x, b[i]));
  }
  const ka = Object.keys(a as PyDict);
  const kb = Object.keys(b as PyDict);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b as PyDict, k) && pyEquals((a as PyDict)[k], (b as PyDict)[k]));
}

export type CompareOp = "<" | ">" | "<=" | ">=";

/** Python ordering comparisons: numbers with numbers, str with str, list with list; else TypeError. */
export function pyCompare(op: CompareOp, a: PyValue, b: PyValue): boolean {
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (na && nb) return compareRaw(op, na.value, nb.value);
  if (typeof a === "string" && typeof b === "string") return compareRaw(op, codePointCmp(a, b), 0);
  if (Array.isArray(a) && Array.isArray(b)) return compareLists(op, a, b);
  throw new ExpressionError(
    "TypeError",
    `'${op}' not supported between instances of '${pyTypeName(a)}' and '${pyTypeName(b)}'`,
  );
}

function compareRaw(op: CompareOp, x: number, y: number): boolean {
  switch (op) {
    case "<":
      return x < y;
    case ">":
      return x > y;
    case "<=":
      return x <= y;
    case ">=":
      return x >= y;
  }
}

/** Compares strings by code point, as Python does (JS `<` compares UTF-16 units). */
function codePointCmp(a: string, b: string): number {
  const ca = Array.from(a, (c) => c.codePointAt(0)!);
  const cb = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return ca[i] - cb[i];
  }
  return ca.length - cb.length;
}

/** Lexicographic, as Python: the first unequal pair decides, otherwise the shorter list is smaller. */
function compareLists(op: CompareOp, a: PyValue[], b: PyValue[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (!pyEquals(a[i], b[i])) return pyCompare(op, a[i], b[i]);
  }
  return compareRaw(op, a.length, b.length);
}

function repeatSequence(seq: string | PyValue[], times: number): PyValue {
  const n = Math.max(0, times);
  if (typeof seq === "string") return seq.repeat(n);
  const out: PyValue[] = [];
  for (let i = 0; i < n; i++) out.push(...seq);
  return out;
}

export function pyAdd(a: PyValue, b: PyValue): PyValue {
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (na && nb) return makeNumber(na.kind === "int" && nb.kind === "int" ? "int" : "float", na.value + nb.value);
  if (typeof a === "string") {
    if (typeof b === "string") return a + b;
    throw new ExpressionError("TypeError", `can only concatenate str (not "${pyTypeName(b)}") to str`);
  }
  if (Array.isArray(a)) {
    if (Array.isArray(b)) return [...a, ...b];
    throw new ExpressionError("TypeError", `can only concatenate list (not "${pyTypeName(b)}") to list`);
  }
  throw unsupported("+", a, b);
}

export function pySub(a: PyValue, b: PyValue): PyValue {
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (na && nb) return makeNumber(na.kind === "int" && nb.kind === "int" ? "int" : "float", na.value - nb.value);
  throw unsupported("-", a, b);
}

export function pyMul(a: PyValue, b: PyValue): PyValue {
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (na && nb) return makeNumber(na.kind === "int" && nb.kind === "int" ? "int" : "float", na.value * nb.value);
  const seq = typeof a === "string" || Array.isArray(a) ? a : typeof b === "string" || Array.isArray(b) ? b : undefined;
  if (seq !== undefined) {
    const other = seq === a ? b : a;
    const n = asNumeric(other);
    if (n && n.kind === "int") return repeatSequence(seq as string | PyValue[], n.value);
    throw new ExpressionError("TypeError", `can't multiply sequence by non-int of type '${pyTypeName(other)}'`);
  }
  throw unsupported("*", a, b);
}

/**
 * The original checks `divisor == 0` before anything else, so `x / False` and even `"a" / 0`
 * raise its own ZeroDivisionError text rather than Python's.
 */
export function pyDiv(a: PyValue, b: PyValue): PyValue {
  if (pyEquals(b, new PyInt(0))) throw new ExpressionError("ZeroDivisionError", "Division by zero is not allowed.");
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (na && nb) return na.value / nb.value;
  throw unsupported("/", a, b);
}

export function pyPow(a: PyValue, b: PyValue): PyValue {
  const na = asNumeric(a);
  const nb = asNumeric(b);
  if (!na || !nb) throw unsupported("** or pow()", a, b);
  if (na.value === 0 && nb.value < 0) {
    throw new ExpressionError("ZeroDivisionError", "0.0 cannot be raised to a negative power");
  }
  if (na.kind === "int" && nb.kind === "int" && nb.value >= 0) return makeNumber("int", na.value ** nb.value);
  if (na.value < 0 && !Number.isInteger(nb.value) && Number.isFinite(nb.value)) {
    // Python returns a complex number here; the engine has no use for one, so this is an error.
    throw new ExpressionError("ValueError", "negative number cannot be raised to a fractional power");
  }
  const result = na.value ** nb.value;
  if (!Number.isFinite(result) && Number.isFinite(na.value) && Number.isFinite(nb.value)) {
    throw new ExpressionError("OverflowError", "(34, 'Numerical result out of range')");
  }
  return result;
}

export function pyNeg(a: PyValue): PyValue {
  const n = asNumeric(a);
  if (!n) throw new ExpressionError("TypeError", `bad operand type for unary -: '${pyTypeName(a)}'`);
  return makeNumber(n.kind, n.value === 0 && n.kind === "int" ? 0 : -n.value);
}

export function pyPos(a: PyValue): PyValue {
  const n = asNumeric(a);
  if (!n) throw new ExpressionError("TypeError", `bad operand type for unary +: '${pyTypeName(a)}'`);
  return makeNumber(n.kind, n.value);
}

/** Python `repr()`: what log lines show for values inside dicts and lists. */
export function pyRepr(v: PyValue): string {
  if (typeof v === "string") return pyStringRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  if (isPyDict(v)) {
    return `{${Object.entries(v)
      .map(([k, x]) => `${pyStringRepr(k)}: ${pyRepr(x)}`)
      .join(", ")}}`;
  }
  return pyStr(v);
}

/** Python `str()`: what a log message shows for `${{ … }}` results. */
export function pyStr(v: PyValue): string {
  if (v === null) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return formatPyFloat(v);
  if (v instanceof PyInt) return formatPyInt(v.value);
  if (typeof v === "string") return v;
  return pyRepr(v);
}

/** Python's str repr: single quotes unless the text contains a single quote and no double quote. */
export function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${quote}${out}${quote}`;
}
