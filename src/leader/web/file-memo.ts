/**
 * A value derived from a file's text (parsed YAML, a validated profile), kept until the file
 * changes. The UI asks for descriptors and the profiles list on every page load, and parsing and
 * validating the same unchanged files each time was most of those routes' cost (a validated
 * profile: ≈ 45 ms). The file is still stat'ed on every call, so an edit is seen at once.
 */
import fs from "node:fs";

interface Entry<T> {
  mtimeMs: number;
  ctimeMs: number;
  size: number;
  value: T;
}

export class FileMemo<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly maxEntries = 512) {}

  /** `derive(text)` of the file, recomputed only when its size or times changed. A throw is not kept. */
  get(file: string, derive: (text: string) => T): T {
    const stat = fs.statSync(file);
    const hit = this.entries.get(file);
    if (hit && hit.mtimeMs === stat.mtimeMs && hit.ctimeMs === stat.ctimeMs && hit.size === stat.size) return hit.value;
    const value = derive(fs.readFileSync(file, "utf8"));
    this.entries.delete(file);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(file, { mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, size: stat.size, value });
    return value;
  }
}
