/**
 * Reading profile YAML the way the original does (PyYAML SafeLoader, YAML 1.1), while keeping
 * what the original throws away: where every node is, and every problem rather than the first.
 *
 * - Scalars resolve with PyYAML's rules (see yaml11.ts): `yes`/`on` are booleans, `010` is 8,
 *   `1:30` is 90, `1e3` is a string. Ints are `PyInt`, floats plain numbers.
 * - Duplicate keys: PyYAML keeps the last one silently; we keep the last one and warn.
 * - Merge keys (`<<`) and anchors/aliases work as in PyYAML.
 * - Syntax errors are reported with line and column; there is then no value.
 */
import type { Document, LineCounter, Node, Scalar } from "yaml";
import { PyInt } from "../util/python-format";
import { ADDED_CODES, type Diagnostic, formatPath, type PathSegment, type Position, SourceMap } from "./diagnostics";
import { fastLoadYaml } from "./yaml-fast";
import { resolvePlainScalar, resolveTaggedScalar, type YamlScalar } from "./yaml11";

export type YamlValue = YamlScalar | YamlValue[] | YamlMapping;
export interface YamlMapping {
  [key: string]: YamlValue;
}

export interface LoadedYaml {
  /** Undefined when the text is not well-formed YAML. */
  value?: YamlValue;
  sourceMap: SourceMap;
  diagnostics: Diagnostic[];
}

type YamlLib = typeof import("yaml");
/**
 * `yaml` is loaded only when the full loader runs (about 20 ms per process): plain profiles never
 * need it, their positions being computed only if a diagnostic asks (see `loadYaml`).
 */
const yamlLib = (): YamlLib => require("yaml") as YamlLib;

/** Nesting beyond this is an alias loop or an attack, not a profile. */
const MAX_DEPTH = 200;

class Converter {
  readonly diagnostics: Diagnostic[] = [];
  readonly sourceMap = new SourceMap();

  constructor(
    private readonly Y: YamlLib,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  position(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  private report(severity: Diagnostic["severity"], code: string, message: string, path: readonly PathSegment[], offset: number, hint?: string) {
    this.diagnostics.push({
      code,
      severity,
      message,
      path: formatPath(path),
      ...(hint ? { hint } : {}),
      ...this.position(offset),
    });
  }

  convert(node: unknown, path: PathSegment[], depth = 0): YamlValue {
    if (node === null || node === undefined) return null;
    if (depth > MAX_DEPTH) {
      this.report("error", ADDED_CODES.yamlSyntax, "The document nests too deeply (is an alias referring to itself?).", path, 0);
      return null;
    }
    const n = node as Node;
    if (n.range) this.sourceMap.setValue(path, this.position(n.range[0]));
    if (this.Y.isAlias(n)) {
      const target = n.resolve(this.doc);
      if (!target) {
        this.report("error", ADDED_CODES.yamlSyntax, `found undefined alias '${n.source}'`, path, n.range?.[0] ?? 0);
        return null;
      }
      const value = this.convert(target, path, depth + 1);
      // The alias's own position wins for its path: that is where the user wrote it.
      if (n.range) this.sourceMap.setValue(path, this.position(n.range[0]));
      return value;
    }
    if (this.Y.isScalar(n)) return this.scalar(n, path);
    if (this.Y.isSeq(n)) return n.items.map((item, i) => this.convert(item, [...path, i], depth + 1));
    if (this.Y.isMap(n)) return this.mapping(n.items, path, depth);
    return null;
  }

  private scalar(n: Scalar, path: readonly PathSegment[]): YamlValue {
    const text = n.value === null || n.value === undefined ? "" : String(n.value);
    if (n.tag && n.tag !== "!") {
      try {
        return resolveTaggedScalar(n.tag, text);
      } catch (err) {
        this.report("error", ADDED_CODES.yamlTag, (err as Error).message, path, n.range?.[0] ?? 0);
        return text;
      }
    }
    return n.type === "PLAIN" ? resolvePlainScalar(text) : text;
  }

  private mapping(items: readonly unknown[], path: PathSegment[], depth: number): YamlMapping {
    const out: YamlMapping = {};
    const merged = new Set<string>();
    const seen = new Map<string, number>();
    const assign = (key: string, value: YamlValue) => {
      // A key named __proto__ must be data, not a prototype change.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    };

    for (const item of items) {
      if (!this.Y.isPair(item)) continue;
      const keyNode = item.key as Node | null;
      if (this.Y.isScalar(keyNode) && keyNode.type === "PLAIN" && keyNode.value === "<<" && !keyNode.tag) {
        for (const [k, v] of this.mergeSources(item.value, path, depth)) {
          if (!Object.hasOwn(out, k)) {
            assign(k, v);
            merged.add(k);
          }
        }
      }
    }

    for (const item of items) {
      if (!this.Y.isPair(item)) continue;
      const keyNode = item.key as Node | null;
      if (this.Y.isScalar(keyNode) && keyNode.type === "PLAIN" && keyNode.value === "<<" && !keyNode.tag) continue;
      const keyOffset = keyNode?.range?.[0] ?? (item.value as Node | null)?.range?.[0] ?? 0;
      const key = this.keyText(keyNode, path, keyOffset);
      if (key === undefined) continue;
      const childPath = [...path, key];
      const previousLine = seen.get(key);
      if (previousLine !== undefined) {
        this.report(
          "warning",
          ADDED_CODES.yamlDuplicateKey,
          `Duplicate key \`${key}\`; the later value (this one) replaces the one on line ${previousLine}.`,
          childPath,
          keyOffset,
          "Remove one of them; the original keeps the last one silently.",
        );
      }
      seen.set(key, this.position(keyOffset).line);
      this.sourceMap.setKey(childPath, this.position(keyOffset));
      merged.delete(key);
      const value = this.convert(item.value, childPath, depth + 1);
      // An empty value has no text of its own; point at its key instead of the space after it.
      if (isEmptyNode(this.Y, item.value)) this.sourceMap.setValue(childPath, this.position(keyOffset));
      assign(key, value);
    }
    return out;
  }

  /** Pairs contributed by `<<: *anchor` or `<<: [*a, *b]`; earlier maps in a list win, as in PyYAML. */
  private mergeSources(valueNode: unknown, path: PathSegment[], depth: number): Array<[string, YamlValue]> {
    const resolve = (x: unknown): unknown => (this.Y.isAlias(x) ? (x as { resolve(d: Document): unknown }).resolve(this.doc) : x);
    const target = resolve(valueNode);
    const maps = this.Y.isSeq(target) ? target.items.map(resolve) : [target];
    const pairs: Array<[string, YamlValue]> = [];
    for (const m of maps) {
      if (!this.Y.isMap(m)) {
        this.report(
          "error",
          ADDED_CODES.yamlSyntax,
          "expected a mapping or list of mappings for merging",
          path,
          (valueNode as Node | null)?.range?.[0] ?? 0,
        );
        continue;
      }
      const value = this.mapping(m.items, path, depth + 1);
      for (const [k, v] of Object.entries(value)) if (!pairs.some(([pk]) => pk === k)) pairs.push([k, v]);
    }
    return pairs;
  }

  /** Keys must be strings, as every map in a profile is `str`-keyed; `on:` or `1:` would not be. */
  private keyText(keyNode: Node | null, path: readonly PathSegment[], offset: number): string | undefined {
    if (keyNode === null || keyNode === undefined) {
      this.report("error", ADDED_CODES.yamlKeyType, "Expected `str`, got `null` for a mapping key.", path, offset);
      return undefined;
    }
    if (!this.Y.isScalar(keyNode)) {
      this.report("error", ADDED_CODES.yamlKeyType, "Mapping keys must be plain strings.", path, offset);
      return undefined;
    }
    const value = this.scalar(keyNode, path);
    if (typeof value === "string") return value;
    const text = String(keyNode.value);
    const got = value === null ? "null" : typeof value === "boolean" ? "bool" : value instanceof PyInt ? "int" : "float";
    this.report(
      "error",
      ADDED_CODES.yamlKeyType,
      `Expected \`str\`, got \`${got}\` for the key \`${text}\`.`,
      [...path, text],
      offset,
      `YAML 1.1 reads \`${text}\` as ${got === "int" ? "an" : "a"} ${got}; quote it: "${text}".`,
    );
    return text;
  }
}

function isEmptyNode(Y: YamlLib, node: unknown): boolean {
  if (node === null || node === undefined) return true;
  return Y.isScalar(node) && node.type === "PLAIN" && (node.value === null || node.value === "") && !node.tag;
}

/**
 * Positions computed only when asked for: the fast reader gives none, so the first `locate` (a
 * diagnostic being placed) parses the text once with the full loader, whose map this then is.
 */
class LazySourceMap extends SourceMap {
  private real: SourceMap | undefined;

  constructor(private readonly text: string) {
    super();
  }

  private map(): SourceMap {
    this.real ??= fullLoadYaml(this.text).sourceMap;
    return this.real;
  }

  override setValue(path: readonly PathSegment[], pos: Position): void {
    this.map().setValue(path, pos);
  }

  override setKey(path: readonly PathSegment[], pos: Position): void {
    this.map().setKey(path, pos);
  }

  override locate(path: readonly PathSegment[], preferKey = false): Position | undefined {
    return this.map().locate(path, preferKey);
  }
}

/**
 * The document's value, positions and load diagnostics. Plain documents (nearly all profiles) take
 * the fast reader (yaml-fast.ts), which accepts only texts the full loader reads to the same value
 * without any diagnostic; everything else goes through the full loader.
 */
export function loadYaml(text: string): LoadedYaml {
  const fast = fastLoadYaml(text);
  if (fast !== undefined) return { value: fast, sourceMap: new LazySourceMap(text), diagnostics: [] };
  return fullLoadYaml(text);
}

/** The `yaml` package's parse with positions for every node, and every problem reported. */
export function fullLoadYaml(text: string): LoadedYaml {
  const Y = yamlLib();
  const lines = new Y.LineCounter();
  const docs = Y.parseAllDocuments(text, {
    schema: "failsafe",
    version: "1.1",
    lineCounter: lines,
    uniqueKeys: false,
    prettyErrors: false,
  });
  const sourceMap = new SourceMap();
  const diagnostics: Diagnostic[] = [];
  const docList = Array.isArray(docs) ? docs : [];
  const at = (offset: number): Position => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };

  for (const doc of docList) {
    for (const err of doc.errors) {
      diagnostics.push({
        code: ADDED_CODES.yamlSyntax,
        severity: "error",
        message: err.message,
        path: "",
        ...at(err.pos[0]),
      });
    }
    for (const w of doc.warnings) {
      if (w.code === "TAG_RESOLVE_FAILED") continue; // tags are resolved by us, PyYAML's way
      diagnostics.push({ code: ADDED_CODES.yamlSyntax, severity: "warning", message: w.message, path: "", ...at(w.pos[0]) });
    }
  }
  if (docList.length > 1) {
    const second = docList[1];
    diagnostics.push({
      code: ADDED_CODES.yamlSyntax,
      severity: "error",
      message: "expected a single document in the stream, but found another document",
      path: "",
      ...at(second.range[0]),
    });
  }
  if (diagnostics.some((d) => d.severity === "error")) return { sourceMap, diagnostics };
  if (docList.length === 0) {
    sourceMap.setValue([], { line: 1, column: 1 });
    return { value: null, sourceMap, diagnostics };
  }

  const converter = new Converter(Y, docList[0], lines);
  const value = converter.convert(docList[0].contents, []);
  if (!converter.sourceMap.locate([])) converter.sourceMap.setValue([], { line: 1, column: 1 });
  diagnostics.push(...converter.diagnostics);
  return { value, sourceMap: converter.sourceMap, diagnostics };
}
