/**
 * The original's per-unit key/value caches: `local_intermittent_storage(name)` (in
 * `[storage] temporary_cache`, a tmpfs file) and `local_persistent_storage(name)` (in
 * `[storage] persistent_cache`). Each cache is a table `cache_<name>(key, value)` so the Python
 * tools and web server on the same unit read what we write, and the reverse.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export type CacheKey = string | number | readonly (string | number)[];
export type CacheValue = string | number | Buffer | null;

/** Opens a cache file with the pragmas the original uses, creating its folder if needed. */
export function openCacheDatabase(file: string): Database.Database {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: 15000 });
  db.pragma("busy_timeout = 15000");
  db.pragma("temp_store = 2");
  db.pragma("cache_size = -4000");
  // WAL lets a job write while the web server reads; the original leaves the default journal on
  // tmpfs, and WAL is compatible with Python's sqlite3 readers.
  if (file !== ":memory:") db.pragma("journal_mode = WAL");
  return db;
}

/** Tuples are keyed by their compact JSON bytes, as msgspec encodes them in the original. */
function encodeKey(key: CacheKey): string | number | Buffer {
  if (Array.isArray(key)) return Buffer.from(JSON.stringify(key), "utf8");
  return key as string | number;
}

export class KeyValueCache {
  private readonly table: string;
  /** Prepared once per cache: preparing costs more than running these one-row statements. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    name: string,
  ) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`bad cache name: ${name}`);
    this.table = `cache_${name}`;
    db.exec(`CREATE TABLE IF NOT EXISTS ${this.table} (key BLOB PRIMARY KEY, value BLOB)`);
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  get(key: CacheKey): CacheValue | undefined {
    const row = this.stmt(`SELECT value FROM ${this.table} WHERE key = ?`).get(encodeKey(key)) as
      | { value: CacheValue }
      | undefined;
    return row?.value;
  }

  getString(key: CacheKey): string | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  }

  set(key: CacheKey, value: CacheValue): void {
    this.stmt(`INSERT INTO ${this.table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(encodeKey(key), value);
  }

  delete(key: CacheKey): void {
    this.stmt(`DELETE FROM ${this.table} WHERE key = ?`).run(encodeKey(key));
  }

  has(key: CacheKey): boolean {
    return this.get(key) !== undefined;
  }

  /** All entries in insertion order (rowid), which is how the original's dict views iterate them. */
  entries(): Array<[string | number, CacheValue]> {
    const rows = this.db.prepare(`SELECT key, value FROM ${this.table} ORDER BY rowid`).all() as Array<{
      key: string | number | Buffer;
      value: CacheValue;
    }>;
    return rows.map((r) => [Buffer.isBuffer(r.key) ? r.key.toString("utf8") : r.key, r.value]);
  }

  clear(): void {
    this.db.exec(`DELETE FROM ${this.table}`);
  }
}
