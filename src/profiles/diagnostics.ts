/**
 * Diagnostics are data: the CLI prints them, the REST API returns them, tests compare them.
 *
 * `code`, `severity`, `message` and `path` follow the original (`experiment_profiles/diagnostics.py`
 * and `validate.py`) wherever it has a rule; `line`/`column` (1-based) and `hint` are what this
 * project adds. Codes for checks the original does not have are listed in `ADDED_CODES`.
 */

export type Severity = "error" | "warning" | "info";

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  /** Dotted path over the profile, as the original writes it: `common.jobs.stirring.actions[0].t`. */
  path: string;
  hint?: string;
  line?: number;
  column?: number;
}

/** Codes this project reports that the original's validator has no rule for. */
export const ADDED_CODES = {
  yamlSyntax: "yaml.syntax",
  yamlDuplicateKey: "yaml.duplicate_key",
  yamlTag: "yaml.tag",
  yamlKeyType: "yaml.key_type",
  unknownField: "schema.unknown_field",
  missingField: "schema.missing_field",
  wrongType: "schema.type",
  invalidValue: "schema.invalid_value",
  unknownActionType: "schema.unknown_action_type",
  versionNotString: "schema.version_not_string",
  precedence: "expression.precedence",
  unknownFunction: "expression.function.unknown",
  unknownUnit: "profile.unit.unknown",
} as const;

export type PathSegment = string | number;

/** `["common","jobs","stirring","actions",0,"t"]` → `common.jobs.stirring.actions[0].t`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

/** `file.yaml:12:5: error[code]: message (hint)`, the shape compilers and editors understand. */
export function formatDiagnostic(d: Diagnostic, filename: string): string {
  const where = d.line !== undefined ? `${filename}:${d.line}:${d.column ?? 1}` : filename;
  const hint = d.hint ? ` (${d.hint})` : "";
  return `${where}: ${d.severity}[${d.code}]: ${d.message}${hint}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

/**
 * The text the original's execute/verify path raises for the first error: `"<message> In <path>"`
 * (profiles spec §1.2 step 3).
 */
export function firstErrorText(diagnostics: readonly Diagnostic[]): string | undefined {
  const d = diagnostics.find((x) => x.severity === "error");
  return d ? `${d.message} In ${d.path}` : undefined;
}

/**
 * The original's API returns diagnostics without positions and without `hint` when it is null;
 * this strips what the original does not send, for byte-compatible responses.
 */
export function toOriginalShape(d: Diagnostic): { severity: Severity; code: string; message: string; path: string; hint?: string } {
  return { severity: d.severity, code: d.code, message: d.message, path: d.path, ...(d.hint ? { hint: d.hint } : {}) };
}

export interface Position {
  line: number;
  column: number;
}

/** Where each node of the YAML document sits, by path (keys and values separately). */
export class SourceMap {
  private readonly values = new Map<string, Position>();
  private readonly keys = new Map<string, Position>();

  private static id(path: readonly PathSegment[]): string {
    return JSON.stringify(path);
  }

  setValue(path: readonly PathSegment[], pos: Position): void {
    this.values.set(SourceMap.id(path), pos);
  }

  setKey(path: readonly PathSegment[], pos: Position): void {
    this.keys.set(SourceMap.id(path), pos);
  }

  /**
   * The position of the node at `path` (its key when `preferKey`), or of its nearest ancestor
   * that exists, so "missing field" diagnostics point at the object that lacks it.
   */
  locate(path: readonly PathSegment[], preferKey = false): Position | undefined {
    for (let n = path.length; n >= 0; n--) {
      const id = SourceMap.id(path.slice(0, n));
      const pos = (preferKey && n === path.length ? this.keys.get(id) : undefined) ?? this.values.get(id);
      if (pos) return pos;
    }
    return undefined;
  }
}

/** Edit distance counting a swap of neighbours as one edit (`strat` → `start`), for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate, if it is close enough to be a plausible typo (case differences count as close). */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const exactIgnoringCase = candidates.find((c) => c.toLowerCase() === lower);
  if (exactIgnoringCase) return exactIgnoringCase;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestDistance <= limit ? best : undefined;
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const m = closestMatch(word, candidates);
  return m === undefined ? undefined : `Did you mean \`${m}\`?`;
}
