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

/** A key as the table stores it. */
type StoredKey = string | number | Buffer;

/** Tuples are keyed by their compact JSON bytes, as msgspec encodes them in the original. */
function encodeKey(key: CacheKey): StoredKey {
  if (Array.isArray(key)) return Buffer.from(JSON.stringify(key), "utf8");
  return key as string | number;
}

/** Where a cache's rows live: a table in a cache file, or (simulated units) a Map. */
interface CacheBackend {
  get(key: StoredKey): CacheValue | undefined;
  set(key: StoredKey, value: CacheValue): void;
  delete(key: StoredKey): void;
  entries(): Array<[StoredKey, CacheValue]>;
  clear(): void;
}

class SqliteCacheBackend implements CacheBackend {
  private readonly table: string;
  /** Prepared once per cache: preparing costs more than running these one-row statements. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    name: string,
  ) {
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

  get(key: StoredKey): CacheValue | undefined {
    const row = this.stmt(`SELECT value FROM ${this.table} WHERE key = ?`).get(key) as { value: CacheValue } | undefined;
    return row?.value;
  }

  set(key: StoredKey, value: CacheValue): void {
    this.stmt(`INSERT INTO ${this.table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, value);
  }

  delete(key: StoredKey): void {
    this.stmt(`DELETE FROM ${this.table} WHERE key = ?`).run(key);
  }

  entries(): Array<[StoredKey, CacheValue]> {
    const rows = this.stmt(`SELECT key, value FROM ${this.table} ORDER BY rowid`).all() as Array<{ key: StoredKey; value: CacheValue }>;
    return rows.map((r) => [r.key, r.value]);
  }

  clear(): void {
    this.stmt(`DELETE FROM ${this.table}`).run();
  }
}

/**
 * The same rows in a Map, for caches no other process reads (a simulated unit's): a simulated
 * week switches LEDs and heaters millions of times, and each switch is several cache statements.
 * Keys compare as in the SQLite table (no type affinity: 1, "1" and the bytes "1" are three keys);
 * a Map keeps first-insertion order through updates, as rowid order does.
 */
class MemoryCacheBackend implements CacheBackend {
  /**
   * One map per key type (a Map tells 1 from "1" itself; bytes go by their latin1 text), so a
   * lookup builds no key string. `order` numbers rows as first inserted, for `entries`.
   */
  private readonly strings = new Map<string, MemoryRow>();
  private readonly numbers = new Map<number, MemoryRow>();
  private readonly bytes = new Map<string, MemoryRow>();
  private inserted = 0;

  /** SQLite hands back a fresh Buffer on every read; so does this. */
  private static copy(value: CacheValue): CacheValue {
    return Buffer.isBuffer(value) ? Buffer.from(value) : value;
  }

  private row(key: StoredKey): MemoryRow | undefined {
    if (typeof key === "string") return this.strings.get(key);
    if (typeof key === "number") return this.numbers.get(key);
    return this.bytes.get(key.toString("latin1"));
  }

  get(key: StoredKey): CacheValue | undefined {
    const row = this.row(key);
    return row === undefined ? undefined : MemoryCacheBackend.copy(row.value);
  }

  set(key: StoredKey, value: CacheValue): void {
    const row = this.row(key);
    if (row !== undefined) {
      row.value = MemoryCacheBackend.copy(value);
      return;
    }
    const added: MemoryRow = { key, value: MemoryCacheBackend.copy(value), order: this.inserted++ };
    if (typeof key === "string") this.strings.set(key, added);
    else if (typeof key === "number") this.numbers.set(key, added);
    else this.bytes.set(key.toString("latin1"), added);
  }

  delete(key: StoredKey): void {
    if (typeof key === "string") this.strings.delete(key);
    else if (typeof key === "number") this.numbers.delete(key);
    else this.bytes.delete(key.toString("latin1"));
  }

  entries(): Array<[StoredKey, CacheValue]> {
    return [...this.strings.values(), ...this.numbers.values(), ...this.bytes.values()]
      .sort((a, b) => a.order - b.order)
      .map((r) => [r.key, MemoryCacheBackend.copy(r.value)]);
  }

  clear(): void {
    this.strings.clear();
    this.numbers.clear();
    this.bytes.clear();
  }
}

interface MemoryRow {
  key: StoredKey;
  value: CacheValue;
  order: number;
}

export class KeyValueCache {
  private readonly backend: CacheBackend;

  /** `"in-memory"`: a cache this process alone uses (no file, no SQL), as simulated units' are. */
  constructor(db: Database.Database | "in-memory", name: string) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`bad cache name: ${name}`);
    this.backend = db === "in-memory" ? new MemoryCacheBackend() : new SqliteCacheBackend(db, name);
  }

  static inMemory(name: string): KeyValueCache {
    return new KeyValueCache("in-memory", name);
  }

  get(key: CacheKey): CacheValue | undefined {
    return this.backend.get(encodeKey(key));
  }

  getString(key: CacheKey): string | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  }

  set(key: CacheKey, value: CacheValue): void {
    this.backend.set(encodeKey(key), value);
  }

  delete(key: CacheKey): void {
    this.backend.delete(encodeKey(key));
  }

  has(key: CacheKey): boolean {
    return this.get(key) !== undefined;
  }

  /** All entries in insertion order (rowid), which is how the original's dict views iterate them. */
  entries(): Array<[string | number, CacheValue]> {
    return this.backend.entries().map(([k, v]) => [Buffer.isBuffer(k) ? k.toString("utf8") : k, v]);
  }

  clear(): void {
    this.backend.clear();
  }
}
