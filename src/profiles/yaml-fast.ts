/**
 * A fast reader for the plain shape almost every profile has: block mappings and sequences,
 * one-line flow collections, one-line plain or quoted scalars, comments.
 *
 * Why: the `yaml` package builds a full CST and document with positions, about 1 MB/s; a 10,000-
 * action profile spent most of `verify` there (docs/BENCHMARKS.md). This reader is ~10× faster and
 * makes no positions at all; `loadYaml` uses its value and builds positions with the full parser
 * only if some diagnostic asks where a node is.
 *
 * It is deliberately conservative: anything outside the subset, or anything the full loader would
 * report (duplicate keys, non-string keys, tags, anchors, aliases, merge keys, directives, several
 * documents, multi-line scalars, tabs, escapes), returns `undefined` and the full loader takes
 * over. So for every text it accepts, the value equals the full loader's and the full loader
 * would report nothing (test/profiles/yaml-fast.test.ts compares both on the corpus).
 */
import { resolvePlainScalar, type YamlScalar } from "./yaml11";

type Value = YamlScalar | Value[] | { [key: string]: Value };

/** Thrown inside the reader to give up; never escapes `fastLoadYaml`. */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported();

function bail(): never {
  throw UNSUPPORTED;
}

const MAX_DEPTH = 100;
/** Characters that cannot start a plain scalar in our subset (YAML indicators and reserved ones). */
const NOT_PLAIN_START = new Set(["&", "*", "!", "|", ">", "%", "@", "`", ",", "[", "]", "{", "}", "#", "'", '"', "?", ":", "-"]);

interface Line {
  indent: number;
  /** The line without indentation and trailing spaces (comments still in). */
  text: string;
}

/** YAML's white space is the space (tabs never reach here); `trim*` would also eat NBSP and friends. */
function trimEndSpaces(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 32) end--;
  return end === s.length ? s : s.slice(0, end);
}

function trimStartSpaces(s: string): string {
  let start = 0;
  while (start < s.length && s.charCodeAt(start) === 32) start++;
  return start === 0 ? s : s.slice(start);
}

function assign(out: Record<string, Value>, key: string, value: Value): void {
  if (Object.hasOwn(out, key)) bail(); // a duplicate: the full loader warns about it
  // A key named __proto__ must be data, not a prototype change (as the full loader does).
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A key's text must resolve to a string, as the full loader requires. */
function plainKey(text: string): string {
  if (text === "" || text.length > 1000 || NOT_PLAIN_START.has(text[0]) || text.includes(" #")) bail();
  if (text === "<<" || typeof resolvePlainScalar(text) !== "string") bail();
  return text;
}

/** A plain scalar value in block context (already cut at a comment). */
function plainValue(text: string): YamlScalar {
  const c = text[0];
  if (NOT_PLAIN_START.has(c) && !((c === "-" || c === "?" || c === ":") && text.length > 1 && text[1] !== " ")) bail();
  if (text.includes(": ") || text.endsWith(":") || text.includes("\t")) bail();
  return resolvePlainScalar(text);
}

/** Where a ` #` comment starts in plain text, or the length. */
function commentStart(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "#" && (i === 0 || text[i - 1] === " ")) return i;
  }
  return text.length;
}

/** Reads a quoted scalar starting at `i`; returns the value and the index after the closing quote. */
function quoted(text: string, i: number): [string, number] {
  const q = text[i];
  let out = "";
  let j = i + 1;
  for (;;) {
    const k = text.indexOf(q, j);
    if (k < 0) bail(); // continues on the next line
    if (q === "'") {
      out += text.slice(j, k);
      if (text[k + 1] === "'") {
        out += "'";
        j = k + 2;
        continue;
      }
      return [out, k + 1];
    }
    const part = text.slice(j, k);
    if (part.includes("\\")) bail(); // escapes: leave them to the full parser
    return [part, k + 1];
  }
}

/** After a node: only spaces and an optional comment may follow. */
function expectEnd(text: string, i: number): void {
  while (text[i] === " ") i++;
  if (i < text.length && text[i] !== "#") bail();
  if (i < text.length && text[i - 1] !== " ") bail();
}

// ------------------------------------------------------------------ flow collections (one line)

class FlowReader {
  i = 0;
  constructor(private readonly s: string) {}

  private spaces(): void {
    while (this.s[this.i] === " ") this.i++;
  }

  node(depth: number): Value {
    if (depth > MAX_DEPTH) bail();
    this.spaces();
    const c = this.s[this.i];
    if (c === "{") return this.mapping(depth);
    if (c === "[") return this.sequence(depth);
    if (c === "'" || c === '"') {
      const [v, next] = quoted(this.s, this.i);
      this.i = next;
      return v;
    }
    return resolvePlainScalar(this.plain());
  }

  /** A plain scalar in flow context; any `:` or `#` in it is left to the full parser. */
  private plain(): string {
    const start = this.i;
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === "," || c === "]" || c === "}" || c === "[" || c === "{") break;
      if (c === ":" || c === "#" || c === "\t") bail();
      this.i++;
    }
    const text = trimEndSpaces(s.slice(start, this.i));
    if (text === "" || NOT_PLAIN_START.has(text[0])) {
      if (!(text.length > 1 && text[0] === "-" && text[1] !== " ")) bail();
    }
    return text;
  }

  private key(): string {
    this.spaces();
    const c = this.s[this.i];
    let key: string;
    if (c === "'" || c === '"') {
      const [v, next] = quoted(this.s, this.i);
      this.i = next;
      key = v;
    } else {
      const start = this.i;
      while (this.i < this.s.length && this.s[this.i] !== ":" && !",[]{}#\t".includes(this.s[this.i])) this.i++;
      key = plainKey(trimEndSpaces(this.s.slice(start, this.i)));
    }
    // `key: value` only; `{a}`, `{"a":1}` and the like go to the full parser.
    if (this.s[this.i] !== ":" || this.s[this.i + 1] !== " ") bail();
    this.i += 2;
    return key;
  }

  private mapping(depth: number): Record<string, Value> {
    const out: Record<string, Value> = {};
    this.i++;
    this.spaces();
    if (this.s[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      const key = this.key();
      assign(out, key, this.node(depth + 1));
      this.spaces();
      const c = this.s[this.i++];
      if (c === "}") return out;
      if (c !== ",") bail();
      this.spaces();
      if (this.s[this.i] === "}") bail(); // trailing comma: rare, let the full parser decide
    }
  }

  private sequence(depth: number): Value[] {
    const out: Value[] = [];
    this.i++;
    this.spaces();
    if (this.s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.node(depth + 1));
      this.spaces();
      const c = this.s[this.i++];
      if (c === "]") return out;
      if (c !== ",") bail();
      this.spaces();
      if (this.s[this.i] === "]") bail();
    }
  }
}

/** A value written on the same line as its key or dash: a scalar or a one-line flow collection. */
function inlineValue(text: string, depth: number): Value {
  const c = text[0];
  if (c === "{" || c === "[") {
    const r = new FlowReader(text);
    const v = r.node(depth);
    expectEnd(text, r.i);
    return v;
  }
  if (c === "'" || c === '"') {
    const [v, next] = quoted(text, 0);
    expectEnd(text, next);
    return v;
  }
  const end = commentStart(text, 0);
  return plainValue(trimEndSpaces(text.slice(0, end)));
}

// ------------------------------------------------------------------ block structure

/** `key: rest` → [key, rest]; undefined when the text is not a mapping entry. */
function splitEntry(text: string): [string, string] | undefined {
  const c = text[0];
  if (c === "'" || c === '"') {
    const [key, next] = quoted(text, 0);
    if (text[next] !== ":") return undefined;
    if (next + 1 < text.length && text[next + 1] !== " ") bail();
    return [key, trimStartSpaces(text.slice(next + 1))];
  }
  if (c === "{" || c === "[") return undefined;
  const stop = commentStart(text, 0);
  for (let i = 0; i < stop; i++) {
    if (text[i] === ":" && (i + 1 === text.length || text[i + 1] === " ")) {
      return [plainKey(trimEndSpaces(text.slice(0, i))), trimStartSpaces(text.slice(i + 1))];
    }
  }
  return undefined;
}

function isDash(text: string): boolean {
  return text === "-" || text.startsWith("- ");
}

class BlockReader {
  i = 0;
  constructor(private readonly lines: Line[]) {}

  /** The collection whose first line is the current one, at that line's indent. */
  block(depth: number): Value {
    if (depth > MAX_DEPTH) bail();
    const line = this.lines[this.i];
    return isDash(line.text) ? this.sequence(line.indent, depth) : this.mapping(line.indent, depth, undefined);
  }

  /** The value of a key or dash whose own line had nothing after it. */
  private nested(parentIndent: number, depth: number, allowSameIndentSeq: boolean): Value {
    const next = this.lines[this.i];
    if (next === undefined || next.indent < parentIndent) return null;
    if (next.indent > parentIndent) return this.block(depth + 1);
    return allowSameIndentSeq && isDash(next.text) ? this.sequence(parentIndent, depth + 1) : null;
  }

  /** `first` is an entry already split off a `- key: value` line. */
  mapping(indent: number, depth: number, first: [string, string] | undefined): Record<string, Value> {
    const out: Record<string, Value> = {};
    let entry = first;
    for (;;) {
      if (entry === undefined) {
        const line = this.lines[this.i];
        if (line === undefined || line.indent < indent) return out;
        if (line.indent > indent || isDash(line.text)) bail();
        entry = splitEntry(line.text) ?? bail();
        this.i++;
      }
      const [key, rest] = entry;
      entry = undefined;
      if (rest === "" || rest[0] === "#") assign(out, key, this.nested(indent, depth, true));
      else assign(out, key, inlineValue(rest, depth + 1));
    }
  }

  sequence(indent: number, depth: number): Value[] {
    const out: Value[] = [];
    for (;;) {
      const line = this.lines[this.i];
      if (line === undefined || line.indent < indent) return out;
      if (line.indent > indent || !isDash(line.text)) {
        if (line.indent > indent) bail();
        return out; // a key of the parent mapping at the same indent
      }
      this.i++;
      let rest = line.text.slice(1);
      const pad = rest.length - trimStartSpaces(rest).length;
      rest = trimStartSpaces(rest);
      if (rest === "" || rest[0] === "#") {
        out.push(this.nested(indent, depth, false));
        continue;
      }
      if (isDash(rest)) bail(); // `- - x`
      const entry = splitEntry(rest);
      if (entry) out.push(this.mapping(indent + 1 + pad, depth + 1, entry));
      else out.push(inlineValue(rest, depth + 1));
    }
  }
}

/**
 * The document's value when it is a block mapping in the subset above; undefined when the full
 * loader must read it.
 */
export function fastLoadYaml(text: string): { [key: string]: Value } | undefined {
  // Tabs, CR, a BOM, directives and document markers: never in the subset. (Anchors, tags and
  // block scalars are refused where a node would start with `&`, `*`, `!`, `|` or `>`.)
  if (/[\t\r\uFEFF]|(?:^|\n)(?:---|\.\.\.|%)/.test(text)) return undefined;
  const lines: Line[] = [];
  for (const raw of text.split("\n")) {
    const trimmed = trimEndSpaces(raw);
    const body = trimStartSpaces(trimmed);
    if (body === "" || body[0] === "#") continue;
    lines.push({ indent: trimmed.length - body.length, text: body });
  }
  if (lines.length === 0 || lines[0].indent !== 0 || isDash(lines[0].text)) return undefined;
  try {
    const reader = new BlockReader(lines);
    const value = reader.mapping(0, 0, undefined);
    return reader.i === lines.length ? value : undefined;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}
