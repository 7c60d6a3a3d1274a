/**
 * Python's `float(bytes)`, `int(bytes)` and `bytes.decode()` with their exact error messages.
 * A `/set` command is parsed this way by the original, and the error text is what the user sees in
 * the job's log (`could not convert string to float: b'notanumber'`), so we reproduce both.
 */

/** A payload Python would have rejected; `message` is Python's exception text, verbatim. */
export class PythonValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ValueError";
  }
}

/** Python's `repr(bytes)`: `b'…'`, switching to double quotes when only `'` appears. */
export function pythonBytesRepr(bytes: Uint8Array): string {
  const hasSingle = bytes.includes(0x27);
  const hasDouble = bytes.includes(0x22);
  const quote = hasSingle && !hasDouble ? '"' : "'";
  let out = "";
  for (const b of bytes) {
    if (b === 0x5c) out += "\\\\";
    else if (b === 0x09) out += "\\t";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b === quote.charCodeAt(0)) out += `\\${quote}`;
    else if (b < 0x20 || b >= 0x7f) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else out += String.fromCharCode(b);
  }
  return `b${quote}${out}${quote}`;
}

// Python strips ASCII whitespace (bytes.isspace) around numbers.
const PY_WHITESPACE = /^[ \t\n\r\x0b\x0c]+|[ \t\n\r\x0b\x0c]+$/g;
// Digits may be grouped with single underscores between digits (PEP 515).
const DIGITS = "\\d(?:_?\\d)*";
const FLOAT_LITERAL = new RegExp(`^[+-]?(?:(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?)$`);
const SPECIAL_FLOAT = /^([+-]?)(inf|infinity|nan)$/i;
const INT_LITERAL = new RegExp(`^[+-]?${DIGITS}$`);

function asciiText(bytes: Uint8Array): string | undefined {
  for (const b of bytes) if (b >= 0x80) return undefined;
  return Buffer.from(bytes).toString("latin1").replace(PY_WHITESPACE, "");
}

/** `float(b"…")`: accepts ` 1.5 `, `1e3`, `inf`, `-nan`, `1_000`; throws Python's message otherwise. */
export function pythonFloat(bytes: Uint8Array): number {
  const text = asciiText(bytes);
  if (text !== undefined) {
    const special = SPECIAL_FLOAT.exec(text);
    if (special) {
      if (special[2].toLowerCase() === "nan") return Number.NaN;
      return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    }
    if (FLOAT_LITERAL.test(text)) return Number(text.replace(/_/g, ""));
  }
  throw new PythonValueError(`could not convert string to float: ${pythonBytesRepr(bytes)}`);
}

/**
 * `int(b"…")` (base 10): accepts ` 42 `, `+7`, `007`, `1_000`; rejects `1.5`. Values beyond 2^53
 * lose precision as JavaScript numbers (no setting needs them).
 */
export function pythonInt(bytes: Uint8Array): number {
  const text = asciiText(bytes);
  if (text !== undefined && INT_LITERAL.test(text)) return Number(text.replace(/_/g, ""));
  throw new PythonValueError(`invalid literal for int() with base 10: ${pythonBytesRepr(bytes)}`);
}

/** `bytes.decode()` (strict UTF-8) with Python's UnicodeDecodeError wording. */
export function pythonUtf8Decode(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const fault = findUtf8Fault(bytes);
    throw new PythonValueError(
      `'utf-8' codec can't decode byte 0x${bytes[fault.position].toString(16).padStart(2, "0")} in position ${fault.position}: ${fault.reason}`,
    );
  }
}

function findUtf8Fault(bytes: Uint8Array): { position: number; reason: string } {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return { position: i, reason: "invalid start byte" };
    for (let k = 1; k <= need; k++) {
      if (i + k >= bytes.length) return { position: i, reason: "unexpected end of data" };
      if ((bytes[i + k] & 0xc0) !== 0x80) return { position: i, reason: "invalid continuation byte" };
    }
    i += need + 1;
  }
  return { position: 0, reason: "invalid start byte" };
}
