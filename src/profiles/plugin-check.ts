/**
 * The profile's `plugins` requirement against what is installed (profiles spec §12): each entry
 * must name an installed plugin whose version satisfies `==`, `>=` or `<=` (a bare version means
 * `==`). Failures produce the original's text: `Missing plugins: [Plugin(name='x', version='>=1')]`.
 *
 * Versions compare by PEP 440 release segments (`0.2` == `0.2.0`), then pre/dev/post markers in a
 * simplified order (dev < a < b < rc < final < post) — enough for the constraints the grammar allows.
 */
import { parsePluginVersionConstraint } from "./plugin-version";
import type { Plugin } from "./types";

interface ParsedVersion {
  release: number[];
  /** Rank of the phase: dev 0, a 1, b 2, rc 3, final 4, post 5. */
  phase: number;
  phaseNumber: number;
}

const PHASES: Array<[RegExp, number]> = [
  [/dev/, 0],
  [/(alpha|a)/, 1],
  [/(beta|b)/, 2],
  [/(rc|c|pre|preview)/, 3],
  [/(post|rev|r|-)/, 5],
];

function parseVersion(text: string): ParsedVersion {
  const t = text.trim().toLowerCase().replace(/^v/, "").replace(/\+.*$/, "");
  const m = /^(?:[0-9]+!)?([0-9]+(?:\.[0-9]+)*)(.*)$/.exec(t);
  if (!m) return { release: [0], phase: 4, phaseNumber: 0 };
  const release = m[1].split(".").map(Number);
  while (release.length > 1 && release[release.length - 1] === 0) release.pop();
  const rest = m[2];
  for (const [re, phase] of PHASES) {
    if (re.test(rest)) return { release, phase, phaseNumber: Number(/([0-9]+)\s*$/.exec(rest)?.[1] ?? 0) };
  }
  return { release, phase: 4, phaseNumber: 0 };
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < Math.max(x.release.length, y.release.length); i++) {
    const d = (x.release[i] ?? 0) - (y.release[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.phase !== y.phase) return Math.sign(x.phase - y.phase);
  return Math.sign(x.phaseNumber - y.phaseNumber);
}

export function satisfies(installed: string, constraint: string): boolean {
  const c = parsePluginVersionConstraint(constraint);
  if (!c) return false;
  const cmp = compareVersions(installed, c.version);
  if (c.operator === "==") return cmp === 0;
  if (c.operator === ">=") return cmp >= 0;
  return cmp <= 0;
}

/** The unmet requirements, in list order (empty when all pass). */
export function missingPlugins(required: readonly Plugin[], installed: Readonly<Record<string, string>>): Plugin[] {
  return required.filter((p) => !(Object.hasOwn(installed, p.name) && satisfies(installed[p.name], p.version)));
}

export function missingPluginsText(missing: readonly Plugin[]): string {
  const q = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  return `Missing plugins: [${missing.map((p) => `Plugin(name=${q(p.name)}, version=${q(p.version)})`).join(", ")}]`;
}
