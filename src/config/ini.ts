/**
 * A line-preserving INI document that reads values exactly as Python's configparser does with the
 * options Pioreactor uses (strict=False, allow_no_value=True, case-sensitive keys, `=`/`:`
 * delimiters, full-line `#`/`;` comments, indented continuation lines), and that can be edited
 * without disturbing anything but the edited lines. `toString()` of an unedited document returns
 * the input unchanged, so a `pio config set` never rewrites the user's comments or layout.
 *
 * Interpolation is not done here (see interpolation.ts): a document stores raw values, because the
 * merged view of config.ini + unit_config.ini interpolates across both files.
 */
import { interpolationSyntaxProblem } from "./interpolation";
import { firstNonSpaceIndex, PY_SPACE, pyRstrip, pyStrip } from "./python-text";
import { ConfigError } from "./types";

/** configparser's default_section: keys here are visible in every section. */
export const DEFAULT_SECTION = "DEFAULT";

/** Raw values of one section, in the order configparser keeps them (first appearance). */
export type RawSection = Map<string, string | null>;

export interface RawSections {
  defaults: RawSection;
  /** Every section except DEFAULT, in order of first appearance. */
  sections: Map<string, RawSection>;
}

interface Line {
  text: string;
  /** "\n", "\r\n", "\r", or "" for a last line without a terminator. */
  eol: string;
}

type LineInfo =
  | { kind: "blank" | "comment" }
  | { kind: "section"; name: string }
  | { kind: "option"; key: string; keyEnd: number; valueStart?: number; valueEnd?: number }
  | { kind: "continuation"; owner: number };

interface OptionRecord {
  /** Pieces of a multi-line value before joining; null for a key without a value. */
  parts: string[] | null;
  /** Index of the line that set this value (the last occurrence wins). */
  line: number;
}

interface Block {
  name: string;
  header: number;
  /** Exclusive end: the next header or the end of the document. */
  end: number;
}

interface Analysis {
  info: LineInfo[];
  defaults: Map<string, OptionRecord>;
  sections: Map<string, Map<string, OptionRecord>>;
  blocks: Block[];
}

const SECTION_HEADER = /^\[(.+)\]/s;
// configparser's permissive "option, optional delimiter, optional value" pattern (OPTCRE_NV).
const OPTION_LINE = new RegExp(`^(.*?)${PY_SPACE}*(?:([=:])${PY_SPACE}*(.*))?$`, "sd");
const LINE_BREAK = /\r\n|\r|\n/g;
const BOM = "\ufeff";

export interface ParseOptions {
  /** Shown in error messages, e.g. `/home/pioreactor/.pioreactor/config.ini`. */
  file?: string;
}

export class IniDocument {
  private lines: Line[];
  private readonly bom: string;
  private analysis: Analysis;

  private constructor(
    lines: Line[],
    bom: string,
    readonly file: string,
  ) {
    this.lines = lines;
    this.bom = bom;
    this.analysis = analyse(lines, file);
  }

  /** Parses INI text; throws ConfigError naming the file and line of every malformed line. */
  static parse(text: string, options: ParseOptions = {}): IniDocument {
    // A UTF-8 byte-order mark (Windows editors add one) is kept for round trips but not parsed;
    // configparser would reject the first header because of it.
    const bom = text.startsWith(BOM) ? BOM : "";
    return new IniDocument(splitLines(text.slice(bom.length)), bom, options.file ?? "<string>");
  }

  static empty(file = "<string>"): IniDocument {
    return new IniDocument([], "", file);
  }

  toString(): string {
    return this.bom + this.lines.map((l) => l.text + l.eol).join("");
  }

  /** Section names in order of first appearance, without DEFAULT (as configparser's `sections()`). */
  sections(): string[] {
    return [...this.analysis.sections.keys()];
  }

  hasSection(name: string): boolean {
    return this.analysis.sections.has(name);
  }

  /** The section's own raw value (no DEFAULT fallback, no interpolation); undefined when absent. */
  getRaw(section: string, key: string): string | null | undefined {
    const record = this.recordsOf(section)?.get(key);
    return record === undefined ? undefined : joinParts(record.parts);
  }

  /** 1-based line number where the effective value of `key` is set, for error messages. */
  lineOf(section: string, key: string): number | undefined {
    const record = this.recordsOf(section)?.get(key);
    return record === undefined ? undefined : record.line + 1;
  }

  /** All raw values, merged the way configparser merges duplicate sections and keys. */
  toRawSections(): RawSections {
    const toRaw = (records: Map<string, OptionRecord>): RawSection =>
      new Map([...records].map(([k, r]) => [k, joinParts(r.parts)]));
    return {
      defaults: toRaw(this.analysis.defaults),
      sections: new Map([...this.analysis.sections].map(([name, records]) => [name, toRaw(records)])),
    };
  }

  /**
   * Sets a key's raw value, changing as few lines as possible: the line that currently decides the
   * value (the last occurrence) is rewritten in place; a new key goes at the end of its section
   * (before trailing blank lines); a new section goes at the end of the document. `null` writes a
   * key without a value. Like configparser's `set`, a lone `%` is refused.
   */
  set(section: string, key: string, value: string | null): void {
    checkSectionName(section);
    checkKey(key);
    if (value !== null) checkValue(section, key, value);

    const record = this.recordsOf(section)?.get(key);
    this.edit(() => {
      if (record) this.rewriteOption(record.line, value);
      else if (this.hasSectionOrDefault(section)) this.appendToSection(section, key, value);
      else this.appendSection(section, key, value);
    });
  }

  /** Removes every occurrence of the key (an earlier duplicate would otherwise take effect). */
  remove(section: string, key: string): boolean {
    const doomed = new Set<number>();
    this.analysis.info.forEach((info, i) => {
      if (info.kind === "option" && info.key === key && this.sectionAt(i) === section) {
        for (const j of this.optionSpan(i)) doomed.add(j);
      }
    });
    if (doomed.size === 0) return false;
    this.edit(() => {
      this.lines = this.lines.filter((_, i) => !doomed.has(i));
    });
    return true;
  }

  /**
   * Runs an edit of the line list, then restores the file's ending: every line but the last keeps a
   * terminator, and a file that had no newline at its end still has none.
   */
  private edit(change: () => void): void {
    const before = this.lines;
    const nl = this.newline();
    const hadFinalEol = before.length === 0 || before[before.length - 1].eol !== "";
    this.lines = before.map((line) => ({ ...line }));
    try {
      change();
      this.lines.forEach((line, i) => {
        if (i < this.lines.length - 1 && line.eol === "") line.eol = nl;
      });
      const last = this.lines.at(-1);
      if (last) last.eol = hadFinalEol ? last.eol || nl : "";
      this.analysis = analyse(this.lines, this.file);
    } catch (e) {
      // An edit never leaves the document half-changed.
      this.lines = before;
      throw e;
    }
  }

  private recordsOf(section: string): Map<string, OptionRecord> | undefined {
    return section === DEFAULT_SECTION ? this.analysis.defaults : this.analysis.sections.get(section);
  }

  private hasSectionOrDefault(section: string): boolean {
    return this.analysis.blocks.some((b) => b.name === section);
  }

  private sectionAt(lineIndex: number): string | undefined {
    let name: string | undefined;
    for (const b of this.analysis.blocks) if (b.header <= lineIndex) name = b.name;
    return name;
  }

  /** The option line and the continuation lines that belong to it. */
  private optionSpan(optionLine: number): number[] {
    const span = [optionLine];
    this.analysis.info.forEach((info, j) => {
      if (info.kind === "continuation" && info.owner === optionLine) span.push(j);
    });
    return span;
  }

  private rewriteOption(index: number, value: string | null): void {
    const info = this.analysis.info[index];
    if (info.kind !== "option") throw new Error(`internal: line ${index + 1} is not an option`);
    const old = this.lines[index];
    const indent = old.text.slice(0, firstNonSpaceIndex(old.text));
    const [first, ...more] = value === null ? [null] : value.split("\n");
    let text: string;
    if (first === null) text = old.text.slice(0, info.keyEnd);
    else if (info.valueStart !== undefined && info.valueEnd !== undefined)
      text = old.text.slice(0, info.valueStart) + first + old.text.slice(info.valueEnd);
    else text = `${old.text.slice(0, info.keyEnd)}=${first}`;

    // Continuation lines are indented one tab deeper than the key, as configparser writes them.
    const replacement: Line[] = [text, ...more.map((part) => `${indent}\t${part}`)].map((t) => ({ text: t, eol: "" }));
    replacement[replacement.length - 1].eol = old.eol;
    const dropped = new Set(this.optionSpan(index));
    const rebuilt: Line[] = [];
    this.lines.forEach((line, i) => {
      if (i === index) rebuilt.push(...replacement);
      else if (!dropped.has(i)) rebuilt.push(line);
    });
    this.lines = rebuilt;
  }

  private appendToSection(section: string, key: string, value: string | null): void {
    const block = this.analysis.blocks.filter((b) => b.name === section).at(-1)!;
    let at = block.header;
    for (let i = block.header + 1; i < block.end; i++) {
      if (this.analysis.info[i].kind !== "blank") at = i;
    }
    this.insertAfter(at, renderOption(key, value));
  }

  private appendSection(section: string, key: string, value: string | null): void {
    const texts = [`[${section}]`, ...renderOption(key, value)];
    const last = this.lines.at(-1);
    if (last !== undefined && pyStrip(last.text) !== "") texts.unshift("");
    this.insertAfter(this.lines.length - 1, texts);
  }

  /** Inserts whole lines after index `at` (-1 = at the top). */
  private insertAfter(at: number, texts: string[]): void {
    const added = texts.map((text) => ({ text, eol: "" }));
    this.lines = [...this.lines.slice(0, at + 1), ...added, ...this.lines.slice(at + 1)];
  }

  private newline(): string {
    return this.lines.find((l) => l.eol !== "")?.eol ?? "\n";
  }
}

function renderOption(key: string, value: string | null): string[] {
  if (value === null) return [key];
  const [first, ...more] = value.split("\n");
  return [`${key}=${first}`, ...more.map((part) => `\t${part}`)];
}

function joinParts(parts: string[] | null): string | null {
  // configparser joins continuation lines with "\n" and drops trailing empty lines.
  return parts === null ? null : pyRstrip(parts.join("\n"));
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  for (const m of text.matchAll(LINE_BREAK)) {
    lines.push({ text: text.slice(start, m.index), eol: m[0] });
    start = m.index + m[0].length;
  }
  if (start < text.length) lines.push({ text: text.slice(start), eol: "" });
  return lines;
}

function isFullLineComment(clean: string): boolean {
  return clean.startsWith("#") || clean.startsWith(";");
}

/** Mirrors configparser's `_read` state machine, recording what each line is. */
function analyse(lines: Line[], file: string): Analysis {
  const info: LineInfo[] = [];
  const defaults = new Map<string, OptionRecord>();
  const sections = new Map<string, Map<string, OptionRecord>>();
  const blocks: Block[] = [];
  const problems: { line: number; message: string }[] = [];

  let current: Map<string, OptionRecord> | undefined;
  let currentOption: { key: string; record: OptionRecord } | undefined;
  let indentLevel = 0;

  const fail = (index: number, message: string): never => {
    throw new ConfigError(`${file}:${index + 1}: ${message}`, file, index + 1);
  };

  lines.forEach(({ text }, i) => {
    const stripped = pyStrip(text);
    if (stripped === "" || isFullLineComment(stripped)) {
      // A truly empty line inside a multi-line value becomes an empty line of that value
      // (trailing ones are trimmed when joining); a comment line is skipped without ending it.
      if (stripped === "" && currentOption?.record.parts) currentOption.record.parts.push("");
      info.push({ kind: stripped === "" ? "blank" : "comment" });
      return;
    }

    const indent = firstNonSpaceIndex(text);
    if (current && currentOption && currentOption.key !== "" && indent > indentLevel) {
      if (currentOption.record.parts === null) {
        fail(i, `indented line continues key "${currentOption.key}", which has no value (add "=" after the key, or unindent this line)`);
      }
      currentOption.record.parts!.push(stripped);
      info.push({ kind: "continuation", owner: currentOption.record.line });
      return;
    }

    indentLevel = indent;
    const header = SECTION_HEADER.exec(stripped);
    if (header) {
      const name = header[1];
      if (name === DEFAULT_SECTION) current = defaults;
      else {
        current = sections.get(name);
        if (!current) {
          current = new Map();
          sections.set(name, current);
        }
      }
      const previous = blocks.at(-1);
      if (previous) previous.end = i;
      blocks.push({ name, header: i, end: lines.length });
      currentOption = undefined;
      info.push({ kind: "section", name });
      return;
    }
    if (!current) {
      fail(i, `"${stripped}" comes before any [section] header; every key must be inside a section such as [PWM]`);
    }

    const m = OPTION_LINE.exec(stripped)!;
    const rawKey = m[1];
    const key = pyRstrip(rawKey);
    if (key === "") {
      problems.push({ line: i, message: `line "${stripped}" has no key name before its "${m[2]}"` });
    }
    const record: OptionRecord = { parts: m[3] === undefined ? null : [pyStrip(m[3])], line: i };
    current!.set(key, record);
    currentOption = { key, record };
    const offset = indent;
    const valueIndices = m.indices?.[3];
    info.push({
      kind: "option",
      key,
      keyEnd: offset + key.length,
      valueStart: valueIndices ? offset + valueIndices[0] : undefined,
      valueEnd: valueIndices ? offset + valueIndices[1] : undefined,
    });
  });

  if (problems.length > 0) {
    const message = problems.map((p) => `${file}:${p.line + 1}: ${p.message}`).join("\n");
    throw new ConfigError(message, file, problems[0].line + 1);
  }
  return { info, defaults, sections, blocks };
}

function checkSectionName(section: string): void {
  if (section === "" || /[\r\n]/.test(section)) {
    throw new ConfigError(`invalid section name ${JSON.stringify(section)}: it must be non-empty and on one line`);
  }
}

function checkKey(key: string): void {
  const problem =
    key === ""
      ? "it is empty"
      : /[\r\n]/.test(key)
        ? "it contains a line break"
        : pyStrip(key) !== key
          ? "it starts or ends with whitespace"
          : /[=:]/.test(key)
            ? 'it contains "=" or ":", which separate a key from its value'
            : /^[#;[]/.test(key)
              ? 'it starts with "#", ";" or "[", which would make the line a comment or a header'
              : undefined;
  if (problem) throw new ConfigError(`invalid key ${JSON.stringify(key)}: ${problem}`);
}

function checkValue(section: string, key: string, value: string): void {
  if (value.includes("\r")) {
    throw new ConfigError(`[${section}] ${key}: value contains a carriage return; use "\\n" for multi-line values`);
  }
  const problem = interpolationSyntaxProblem(value);
  if (problem) throw new ConfigError(`[${section}] ${key}: ${problem}`);
}
