/**
 * Python's idea of whitespace, which configparser relies on through `str.strip()` and the
 * `\s`/`\S` regex classes. JavaScript's `trim()` differs (it strips U+FEFF but keeps U+001C–U+001F
 * and U+0085), so INI parsing uses these helpers to split keys, values and indentation exactly
 * where configparser does.
 */

const PY_WHITESPACE_CLASS = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const LEADING = new RegExp(`^[${PY_WHITESPACE_CLASS}]+`);
const TRAILING = new RegExp(`[${PY_WHITESPACE_CLASS}]+$`);
const NON_SPACE = new RegExp(`[^${PY_WHITESPACE_CLASS}]`);

/** Python `s.strip()`. */
export function pyStrip(s: string): string {
  return pyRstrip(s).replace(LEADING, "");
}

/** Python `s.rstrip()`. */
export function pyRstrip(s: string): string {
  return s.replace(TRAILING, "");
}

/** Index of the first non-whitespace character (Python `re.search(r"\S", s).start()`), 0 when none. */
export function firstNonSpaceIndex(s: string): number {
  const m = NON_SPACE.exec(s);
  return m ? m.index : 0;
}

/** A regex source fragment matching one Python whitespace character, for building patterns. */
export const PY_SPACE = `[${PY_WHITESPACE_CLASS}]`;
