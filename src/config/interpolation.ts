/**
 * configparser's BasicInterpolation: `%(name)s` is replaced by another key's value from the same
 * section (or [DEFAULT]), `%%` is a literal percent sign, any other `%` is an error. Expansion is
 * recursive up to the same depth limit as Python, so values that work there work here.
 */
import { ConfigError } from "./types";

/** Raw (uninterpolated) lookup of a key within the section being read, DEFAULT included. */
export type RawLookup = (key: string) => string | null | undefined;

/** Python's MAX_INTERPOLATION_DEPTH. */
const MAX_DEPTH = 10;
const REFERENCE = /^%\(([^)]+)\)s/;

export interface InterpolationContext {
  section: string;
  key: string;
  lookup: RawLookup;
}

export function interpolate(raw: string, ctx: InterpolationContext): string {
  const out: string[] = [];
  expandInto(out, raw, raw, ctx, 1);
  return out.join("");
}

function expandInto(out: string[], rest: string, rawValue: string, ctx: InterpolationContext, depth: number): void {
  const where = `[${ctx.section}] ${ctx.key}`;
  if (depth > MAX_DEPTH) {
    throw new ConfigError(
      `${where}: references nest deeper than ${MAX_DEPTH} levels (is there a circular %(name)s reference?) in value ${JSON.stringify(rawValue)}`,
    );
  }
  while (rest.length > 0) {
    const p = rest.indexOf("%");
    if (p < 0) {
      out.push(rest);
      return;
    }
    if (p > 0) {
      out.push(rest.slice(0, p));
      rest = rest.slice(p);
    }
    const next = rest.slice(1, 2);
    if (next === "%") {
      out.push("%");
      rest = rest.slice(2);
    } else if (next === "(") {
      const m = REFERENCE.exec(rest);
      if (!m) {
        throw new ConfigError(
          `${where}: bad interpolation reference ${JSON.stringify(rest)}; a reference looks like %(other_key)s, and a literal percent sign is written %%`,
        );
      }
      const name = m[1];
      rest = rest.slice(m[0].length);
      const referenced = ctx.lookup(name);
      if (referenced === undefined) {
        throw new ConfigError(
          `${where}: value ${JSON.stringify(rawValue)} refers to %(${name})s, but neither [${ctx.section}] nor [DEFAULT] has a key "${name}"`,
        );
      }
      if (referenced === null) {
        throw new ConfigError(`${where}: value ${JSON.stringify(rawValue)} refers to %(${name})s, which is a key without a value`);
      }
      if (referenced.includes("%")) expandInto(out, referenced, rawValue, ctx, depth + 1);
      else out.push(referenced);
    } else {
      throw new ConfigError(
        `${where}: '%' must be followed by '%' or '(', found ${JSON.stringify(rest)}; write a literal percent sign as %%`,
      );
    }
  }
}

/**
 * The check configparser's `set` makes before storing a value: every `%` must be part of `%%` or
 * a complete `%(name)s`. Returns a message describing the problem, or undefined when the value is fine.
 */
export function interpolationSyntaxProblem(value: string): string | undefined {
  const stripped = value.replaceAll("%%", "").replace(/%\(([^)]+)\)s/g, "");
  const at = stripped.indexOf("%");
  if (at < 0) return undefined;
  return `invalid interpolation syntax in ${JSON.stringify(value)}: a lone '%' must be written %% (or be part of a %(other_key)s reference)`;
}

/** Escapes a computed value so that interpolating it gives it back unchanged. */
export function escapePercent(value: string): string {
  return value.replaceAll("%", "%%");
}
