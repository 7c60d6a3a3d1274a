/**
 * Read access to the merged configuration (config.ini, then unit_config.ini, plus the derived
 * sections the original adds in memory). Jobs receive one of these; they never read files.
 */
export interface ConfigReader {
  /** The interpolated value, `null` for a key present without a value, `undefined` when absent. */
  get(section: string, key: string): string | null | undefined;
  /** Like `get`, with the fallback used when the key is absent or has no value. */
  getString(section: string, key: string, fallback?: string): string;
  /** Python `float()` of the value; throws a ConfigError naming section, key and value when unparsable. */
  getFloat(section: string, key: string, fallback?: number): number;
  getInt(section: string, key: string, fallback?: number): number;
  /** configparser booleans: 1/yes/true/on and 0/no/false/off (case-insensitive). */
  getBoolean(section: string, key: string, fallback?: boolean): boolean;
  has(section: string, key: string): boolean;
  hasSection(section: string): boolean;
  /** Keys and interpolated values of a section in file order, or undefined if there is no such section. */
  section(name: string): Record<string, string | null> | undefined;
  sections(): string[];
}

/** A user-facing configuration problem: says which file, line, section or key is at fault. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
