/**
 * The merged key/value view of several INI documents: later layers override earlier ones key by
 * key, as reading config.ini and then unit_config.ini into one configparser does. Each entry
 * remembers where it came from so errors can point at a file and line, and `pio config show
 * --with-source` can say local, global or derived.
 */
import { DEFAULT_SECTION, type IniDocument } from "./ini";
import { interpolate } from "./interpolation";
import { ConfigError } from "./types";

export type ConfigSource = "global" | "local" | "derived" | "override";

export interface ConfigEntry {
  /** Uninterpolated value; null for a key without a value. */
  raw: string | null;
  source: ConfigSource;
  file?: string;
  line?: number;
}

export class MergedSections {
  private readonly defaults = new Map<string, ConfigEntry>();
  private readonly sections = new Map<string, Map<string, ConfigEntry>>();

  addDocument(document: IniDocument, source: ConfigSource): void {
    const { defaults, sections } = document.toRawSections();
    const entry = (section: string, key: string, raw: string | null): ConfigEntry => ({
      raw,
      source,
      file: document.file,
      line: document.lineOf(section, key),
    });
    for (const [key, raw] of defaults) this.defaults.set(key, entry(DEFAULT_SECTION, key, raw));
    for (const [name, values] of sections) {
      const target = this.ensureSection(name);
      for (const [key, raw] of values) target.set(key, entry(name, key, raw));
    }
  }

  /** Creates the section if needed, keeping its position if it exists (Map order = configparser order). */
  ensureSection(name: string): Map<string, ConfigEntry> {
    if (name === DEFAULT_SECTION) return this.defaults;
    let section = this.sections.get(name);
    if (!section) {
      section = new Map();
      this.sections.set(name, section);
    }
    return section;
  }

  put(section: string, key: string, entry: ConfigEntry): void {
    this.ensureSection(section).set(key, entry);
  }

  /** Removes a key from the section itself (a DEFAULT key stays visible, as in configparser). */
  deleteOwn(section: string, key: string): void {
    this.sections.get(section)?.delete(key);
  }

  /** Empties a section but keeps its place, like assigning `config[name] = {...}` in Python. */
  clearSection(name: string): void {
    this.ensureSection(name).clear();
  }

  sectionNames(): string[] {
    return [...this.sections.keys()];
  }

  hasSection(name: string): boolean {
    return this.sections.has(name);
  }

  /** The entry a lookup finds: the section's own key, else DEFAULT's; undefined without the section. */
  entry(section: string, key: string): ConfigEntry | undefined {
    const own = this.sections.get(section);
    if (!own) return undefined;
    return own.get(key) ?? this.defaults.get(key);
  }

  /** Interpolated value: null for a key without a value, undefined when absent. */
  value(section: string, key: string): string | null | undefined {
    const found = this.entry(section, key);
    if (found === undefined || found.raw === null) return found?.raw;
    try {
      return interpolate(found.raw, { section, key, lookup: (name) => this.entry(section, name)?.raw });
    } catch (e) {
      if (e instanceof ConfigError && found.file && found.line) {
        throw new ConfigError(`${found.file}:${found.line}: ${e.message}`, found.file, found.line);
      }
      throw e;
    }
  }

  /** Keys in configparser order: the section's own, then DEFAULT's that it does not override. */
  keys(section: string): string[] | undefined {
    const own = this.sections.get(section);
    if (!own) return undefined;
    return [...new Set([...own.keys(), ...this.defaults.keys()])];
  }

  /** Interpolated items of a section, like Python's `config[section].items()`. */
  items(section: string): [string, string | null][] | undefined {
    return this.keys(section)?.map((key) => [key, this.value(section, key) as string | null]);
  }
}
