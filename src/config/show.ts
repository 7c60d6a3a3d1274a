/**
 * The listing behind `pio config show`: every effective section and key, sorted by code point as
 * Python's `sorted()` sorts strings, with where each value comes from. Rendering to INI-like text
 * or msgspec-style JSON is kept here too, so the CLI and any HTTP endpoint print the same bytes.
 */
import { encodeMsgspecJson } from "../pubsub/msgspec-json";
import type { ConfigSource, LayeredConfig } from "./layered";

export interface ListedValue {
  value: string | null;
  source: ConfigSource;
}

/** section → key → value, both levels in sorted order. */
export type ConfigListing = Map<string, Map<string, ListedValue>>;

/** Python's string ordering: by Unicode code point (JS `<` compares UTF-16 units, which differs above U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

export function listEffectiveConfig(config: LayeredConfig): ConfigListing {
  const listing: ConfigListing = new Map();
  for (const section of [...config.sections()].sort(compareCodePoints)) {
    const entries = [...(config.entries(section) ?? [])].sort(([a], [b]) => compareCodePoints(a, b));
    listing.set(
      section,
      new Map(entries.map(([key, value]) => [key, { value, source: config.source(section, key) ?? "derived" }])),
    );
  }
  return listing;
}

/** `[section]` blocks of `key=value` (or a bare `key`), separated by blank lines; no trailing newline. */
export function renderConfigText(listing: ConfigListing, withSource: boolean): string {
  const blocks = [...listing].map(([section, values]) => {
    const lines = [`[${section}]`];
    for (const [key, { value, source }] of values) {
      const line = value === null ? key : `${key}=${value}`;
      lines.push(withSource ? `${line}  # source=${source}` : line);
    }
    return lines.join("\n");
  });
  return blocks.join("\n\n");
}

/** Compact JSON as msgspec writes it: `{"section":{"key":"value"}}`, or `{"value":…,"source":…}` per key. */
export function renderConfigJson(listing: ConfigListing, withSource: boolean): string {
  const payload = new Map(
    [...listing].map(([section, values]) => [
      section,
      new Map(
        [...values].map(([key, { value, source }]) => [key, withSource ? new Map<string, unknown>([["value", value], ["source", source]]) : value]),
      ),
    ]),
  );
  return encodeMsgspecJson(payload);
}
