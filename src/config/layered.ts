/**
 * The configuration a job sees: config.ini, overridden key by key by unit_config.ini, plus the
 * sections derived in memory, plus any `pio run --config-override` values. Immutable: overrides
 * produce a new LayeredConfig, so one process can hold several configs side by side (tests, the
 * simulator) without them leaking into each other.
 */
import { BOOLEAN_SPELLINGS, parseConfigBoolean, parsePyFloat, parsePyInt } from "./convert";
import { addDerivedSections } from "./derived";
import type { IniDocument } from "./ini";
import { interpolationSyntaxProblem } from "./interpolation";
import { type ConfigEntry, type ConfigSource, MergedSections } from "./merged";
import { ConfigError, type ConfigReader } from "./types";

export type { ConfigSource } from "./merged";

/** One `--config-override SECTION KEY VALUE` (null value = a key without a value). */
export type ConfigOverride = readonly [section: string, key: string, value: string | null];

export interface ConfigLayer {
  source: "global" | "local";
  document: IniDocument;
}

export interface LayeredConfigOptions {
  /** Add leds_reverse, PWM_reverse etc. (the runtime view). Off for a single file's own view. */
  derived?: boolean;
}

export class LayeredConfig implements ConfigReader {
  private readonly merged: MergedSections;

  private constructor(
    private readonly layers: readonly ConfigLayer[],
    private readonly overrides: readonly ConfigOverride[],
    private readonly options: Required<LayeredConfigOptions>,
  ) {
    for (const [section, key, value] of overrides) checkOverride(section, key, value);
    this.merged = new MergedSections();
    for (const layer of layers) this.merged.addDocument(layer.document, layer.source);
    this.applyOverrides();
    if (options.derived) {
      addDerivedSections(this.merged);
      // Overrides of derived sections themselves must survive the derivation.
      this.applyOverrides();
    }
  }

  /** The runtime view: config.ini, then unit_config.ini when present, then the derived sections. */
  static fromDocuments(global: IniDocument, local?: IniDocument): LayeredConfig {
    const layers: ConfigLayer[] = [{ source: "global", document: global }];
    if (local) layers.push({ source: "local", document: local });
    return new LayeredConfig(layers, [], { derived: true });
  }

  static fromLayers(layers: readonly ConfigLayer[], options: LayeredConfigOptions = {}): LayeredConfig {
    return new LayeredConfig(layers, [], { derived: options.derived ?? true });
  }

  /**
   * A copy with in-memory overrides (`pio run --config-override`). Derived sections are recomputed
   * from the overridden values, so overriding `[leds] B` also updates `[leds_reverse]`.
   */
  withOverrides(overrides: Iterable<ConfigOverride>): LayeredConfig {
    return new LayeredConfig(this.layers, [...this.overrides, ...overrides], this.options);
  }

  /** Where the effective value comes from; undefined when the key is absent. */
  source(section: string, key: string): ConfigSource | undefined {
    return this.merged.entry(section, key)?.source;
  }

  /** The files behind this config, in reading order. */
  files(): { source: "global" | "local"; file: string }[] {
    return this.layers.map((l) => ({ source: l.source, file: l.document.file }));
  }

  get(section: string, key: string): string | null | undefined {
    return this.merged.value(section, key);
  }

  getString(section: string, key: string, fallback?: string): string {
    const value = this.get(section, key);
    if (value !== undefined && value !== null) return value;
    if (fallback !== undefined) return fallback;
    throw this.missing(section, key, value);
  }

  getFloat(section: string, key: string, fallback?: number): number {
    return this.convert(section, key, fallback, parsePyFloat, "a number (e.g. 0.5, 12, 1e-3)");
  }

  getInt(section: string, key: string, fallback?: number): number {
    return this.convert(section, key, fallback, parsePyInt, "a whole number (e.g. 12)");
  }

  getBoolean(section: string, key: string, fallback?: boolean): boolean {
    return this.convert(section, key, fallback, parseConfigBoolean, BOOLEAN_SPELLINGS);
  }

  has(section: string, key: string): boolean {
    return this.merged.entry(section, key) !== undefined;
  }

  hasSection(name: string): boolean {
    return this.merged.hasSection(name);
  }

  section(name: string): Record<string, string | null> | undefined {
    const items = this.merged.items(name);
    if (!items) return undefined;
    // A null-prototype object so keys like "constructor" or "__proto__" are plain keys.
    const out: Record<string, string | null> = Object.create(null);
    for (const [key, value] of items) out[key] = value;
    return out;
  }

  /** Like `section` but as ordered pairs, which keeps numeric keys ("1", "10", "2") in file order. */
  entries(name: string): [string, string | null][] | undefined {
    return this.merged.items(name);
  }

  sections(): string[] {
    return this.merged.sectionNames();
  }

  private convert<T>(
    section: string,
    key: string,
    fallback: T | undefined,
    parse: (s: string) => T | undefined,
    expected: string,
  ): T {
    const value = this.get(section, key);
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(section, key, value);
    }
    const parsed = parse(value);
    if (parsed === undefined) {
      const where = this.location(this.merged.entry(section, key));
      throw new ConfigError(
        `${where}[${section}] ${key}=${value} is not valid: expected ${expected}`,
        this.merged.entry(section, key)?.file,
        this.merged.entry(section, key)?.line,
      );
    }
    return parsed;
  }

  private missing(section: string, key: string, value: null | undefined): ConfigError {
    const files = this.layers.map((l) => l.document.file).join(" or ");
    if (value === null) {
      const entry = this.merged.entry(section, key);
      return new ConfigError(`${this.location(entry)}[${section}] ${key} has no value; write it as ${key}=<value>`, entry?.file, entry?.line);
    }
    const what = this.hasSection(section) ? `key "${key}" is missing from [${section}]` : `section [${section}] is missing`;
    return new ConfigError(`Not found in configuration: ${what}. Add it to ${files || "config.ini"}:\n\n[${section}]\n${key}=<value>\n`);
  }

  private location(entry: ConfigEntry | undefined): string {
    return entry?.file && entry.line ? `${entry.file}:${entry.line}: ` : "";
  }

  private applyOverrides(): void {
    for (const [section, key, value] of this.overrides) {
      this.merged.put(section, key, { raw: value, source: "override" });
    }
  }
}

function checkOverride(section: string, key: string, value: string | null): void {
  if (section === "" || key === "") {
    throw new ConfigError(`--config-override needs SECTION KEY VALUE with a non-empty section and key, got [${section}] ${key}`);
  }
  const problem = value === null ? undefined : interpolationSyntaxProblem(value);
  if (problem) throw new ConfigError(`--config-override [${section}] ${key}: ${problem}`);
}
