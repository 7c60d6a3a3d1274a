/**
 * Strict JSON decoding that keeps Python's int/float distinction (`101` → int, `101.0` → float),
 * which `JSON.parse` loses. MQTT payloads are decoded this way before nested-key lookups.
 */
import { PyInt } from "../../util/python-format";
import type { PyDict, PyValue } from "./values";

export class JsonPayloadError extends Error {}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

export function decodeJsonPayload(text: string): PyValue {
  let pos = 0;
  const fail = (what: string): never => {
    throw new JsonPayloadError(`${what} at offset ${pos}`);
  };
  const skip = () => {
    WHITESPACE.lastIndex = pos;
    WHITESPACE.exec(text);
    pos = WHITESPACE.lastIndex;
  };
  const literal = (word: string, value: PyValue): PyValue => {
    if (!text.startsWith(word, pos)) fail("invalid literal");
    pos += word.length;
    return value;
  };
  const str = (): string => {
    // Delegate escapes to JSON.parse on the exact string token.
    const start = pos;
    pos++;
    while (pos < text.length && text[pos] !== '"') {
      if (text[pos] === "\\") pos++;
      else if (text.charCodeAt(pos) < 0x20) fail("control character in string");
      pos++;
    }
    if (pos >= text.length) fail("unterminated string");
    pos++;
    try {
      return JSON.parse(text.slice(start, pos)) as string;
    } catch {
      return fail("invalid string escape");
    }
  };
  const value = (): PyValue => {
    skip();
    const ch = text[pos];
    if (ch === "{") {
      pos++;
      const obj: PyDict = {};
      skip();
      if (text[pos] === "}") {
        pos++;
        return obj;
      }
      for (;;) {
        skip();
        if (text[pos] !== '"') fail("expected a key");
        const key = str();
        skip();
        if (text[pos] !== ":") fail("expected `:`");
        pos++;
        obj[key] = value();
        skip();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] === "}") {
          pos++;
          return obj;
        }
        fail("expected `,` or `}`");
      }
    }
    if (ch === "[") {
      pos++;
      const arr: PyValue[] = [];
      skip();
      if (text[pos] === "]") {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        skip();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] === "]") {
          pos++;
          return arr;
        }
        fail("expected `,` or `]`");
      }
    }
    if (ch === '"') return str();
    if (ch === "t") return literal("true", true);
    if (ch === "f") return literal("false", false);
    if (ch === "n") return literal("null", null);
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail("unexpected character");
    pos = NUMBER.lastIndex;
    const isFloat = m[1] !== undefined || m[2] !== undefined;
    return isFloat ? Number(m[0]) : new PyInt(Number(m[0]));
  };
  const result = value();
  skip();
  if (pos !== text.length) fail("trailing data");
  return result;
}
