/**
 * Recognising `${{ … }}` the way the original's regular expressions do (profiles spec §5.1).
 * Python's `.` excludes only `\n`, and its `$` also matches just before one final `\n`, so a
 * bracketed value followed by a trailing newline (a YAML `|` block) still counts as bracketed.
 */

const STRICT = /^\$\{\{([^\n]*?)\}\}\n?$/;
const EMBEDDED = /\$\{\{([^\n]*?)\}\}/g;

/** True when the whole value is one `${{ … }}` (the original calls `str()` first, so only strings can be). */
export function isBracketedExpression(value: unknown): value is string {
  return typeof value === "string" && STRICT.test(value);
}

/** The text between `${{` and `}}` of a bracketed value; other values are returned unchanged. */
export function stripExpressionBrackets(value: string): string {
  const m = STRICT.exec(value);
  return m ? m[1] : value;
}

/** Every non-overlapping `${{ … }}` inside a log message, in order, with where it sits. */
export function findEmbeddedExpressions(message: string): Array<{ expression: string; start: number; end: number }> {
  return Array.from(message.matchAll(EMBEDDED), (m) => ({
    expression: m[1],
    start: m.index,
    end: m.index + m[0].length,
  }));
}
