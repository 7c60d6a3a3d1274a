/**
 * The plugin version constraints a profile may state (profiles spec §4.2): an optional `==`, `>=`
 * or `<=`, then a PEP 440 version. Anything else (`>1`, `~=1.2`, `>=1,<2`, `==1.0.*`) is rejected.
 */

// PEP 440's published version grammar (case-insensitive, surrounding whitespace allowed).
const PEP440 = new RegExp(
  "^\\s*v?(?:(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*" +
    "(?:[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?:[0-9]+)?)?" +
    "(?:(?:-[0-9]+)|(?:[-_.]?(?:post|rev|r)[-_.]?(?:[0-9]+)?))?" +
    "(?:[-_.]?dev[-_.]?(?:[0-9]+)?)?)" +
    "(\\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\\s*$",
  "i",
);

export type VersionOperator = "==" | ">=" | "<=";

export interface PluginConstraint {
  operator: VersionOperator;
  version: string;
}

/** The parsed constraint, or undefined when the original would reject it. */
export function parsePluginVersionConstraint(value: string): PluginConstraint | undefined {
  const m = /^(==|>=|<=)?([\s\S]+)$/.exec(value.trim());
  if (!m) return undefined;
  const operator = (m[1] ?? "==") as VersionOperator;
  const v = PEP440.exec(m[2]);
  if (!v) return undefined;
  // A local version label (`+abc`) is only allowed with `==` in a PEP 440 specifier.
  if (v[1] !== undefined && operator !== "==") return undefined;
  return { operator, version: m[2].trim() };
}
