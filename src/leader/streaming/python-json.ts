/**
 * Re-prints a JSON text the way Python's `json.dumps` would print the value msgspec decoded from
 * it: `", "` and `": "` separators, non-ASCII escaped, integers as written, floats as Python's
 * repr (`2.5e-07`, `1.0`). `JSON.parse` cannot do this: it forgets whether `1.0` was a float,
 * and the original stores `json.dumps(event.data)` in the database.
 */
import { asciiJsonString, formatPyFloat } from "../../util/python-format";

export function pythonJsonDumpsOfJsonText(text: string): string {
  let i = 0;
  const skipWs = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const expect = (c: string) => {
    if (text[i] !== c) throw new SyntaxError(`expected '${c}' at ${i}`);
    i++;
  };
  const readString = (): string => {
    const start = i;
    expect('"');
    while (text[i] !== '"') {
      if (i >= text.length) throw new SyntaxError("unterminated string");
      i += text[i] === "\\" ? 2 : 1;
    }
    i++;
    return asciiJsonString(JSON.parse(text.slice(start, i)) as string);
  };
  const value = (): string => {
    skipWs();
    const c = text[i];
    if (c === "{") {
      i++;
      const parts: string[] = [];
      skipWs();
      if (text[i] === "}") {
        i++;
        return "{}";
      }
      for (;;) {
        skipWs();
        const key = readString();
        skipWs();
        expect(":");
        parts.push(`${key}: ${value()}`);
        skipWs();
        if (text[i] === ",") {
          i++;
          continue;
        }
        expect("}");
        return `{${parts.join(", ")}}`;
      }
    }
    if (c === "[") {
      i++;
      const parts: string[] = [];
      skipWs();
      if (text[i] === "]") {
        i++;
        return "[]";
      }
      for (;;) {
        parts.push(value());
        skipWs();
        if (text[i] === ",") {
          i++;
          continue;
        }
        expect("]");
        return `[${parts.join(", ")}]`;
      }
    }
    if (c === '"') return readString();
    const m = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!m) throw new SyntaxError(`unexpected character at ${i}`);
    i += m[0].length;
    const lexeme = m[0];
    if (/^-?\d+$/.test(lexeme)) return BigInt(lexeme).toString(); // Python ints: "-0" prints as "0"
    if (/^-?\d/.test(lexeme)) return formatPyFloat(Number(lexeme));
    return lexeme;
  };
  const out = value();
  skipWs();
  if (i !== text.length) throw new SyntaxError(`trailing characters at ${i}`);
  return out;
}

/** The raw JSON text of one top-level field of a JSON object text (undefined when absent). */
export function topLevelFieldText(text: string, field: string): string | undefined {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  if (!(field in parsed)) return undefined;
  // Locate the field's value span by re-scanning: cheap for the small payloads this is used on.
  let depth = 0;
  let i = 0;
  let inString = false;
  let stringStart = -1;
  let lastKey: string | undefined;
  while (i < text.length) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') {
        inString = false;
        if (depth === 1) lastKey = JSON.parse(text.slice(stringStart, i + 1)) as string;
      }
    } else if (c === '"') {
      inString = true;
      stringStart = i;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === ":" && depth === 1 && lastKey === field) {
      return sliceValue(text, i + 1);
    } else if (c === "," && depth === 1) lastKey = undefined;
    i++;
  }
  return undefined;
}

function sliceValue(text: string, from: number): string {
  let depth = 0;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (depth === 0) return text.slice(from, i).trim();
      depth--;
    } else if (c === "," && depth === 0) return text.slice(from, i).trim();
  }
  return text.slice(from).trim();
}
