import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";

/** One sequence of cache operations; every read is recorded so two caches can be compared. */
function exercise(cache: KeyValueCache): unknown[] {
  const seen: unknown[] = [];
  const read = () => {
    seen.push(cache.entries().map(([k, v]) => [k, Buffer.isBuffer(v) ? `bytes:${v.toString("hex")}` : v]));
  };
  cache.set("A", 10);
  cache.set(1, "one");
  cache.set("1", "text one");
  cache.set(["pwm", 17], Buffer.from([0, 255]));
  cache.set("B", null);
  read();
  seen.push(cache.get("A"), cache.get(1), cache.get("1"), cache.get(["pwm", 17]), cache.get("B"), cache.get("missing"));
  seen.push(cache.has("B"), cache.has("missing"), cache.getString(1), cache.getString(["pwm", 17]));
  // An update keeps the key's place; a delete and re-insert moves it to the end.
  cache.set("A", 11.5);
  cache.delete(1);
  cache.set(1, "again");
  read();
  const bytes = cache.get(["pwm", 17]) as Buffer;
  bytes[0] = 42;
  seen.push((cache.get(["pwm", 17]) as Buffer).toString("hex"));
  cache.clear();
  read();
  return seen;
}

describe("KeyValueCache", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-cache-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("keeps rows in a table the original's tools can read", () => {
    const file = path.join(dir, "local_intermittent_pioreactor_metadata.sqlite");
    const db = openCacheDatabase(file);
    const cache = new KeyValueCache(db, "leds");
    cache.set("A", 12.5);
    cache.set(["x", 1], "tuple");
    db.close();
    const raw = new Database(file, { readonly: true });
    const rows = raw.prepare("SELECT key, value FROM cache_leds ORDER BY rowid").all() as Array<{ key: unknown; value: unknown }>;
    raw.close();
    expect(rows).toEqual([
      { key: "A", value: 12.5 },
      { key: Buffer.from('["x",1]'), value: "tuple" },
    ]);
  });

  it("in memory, answers every operation exactly as the SQLite table does", () => {
    const db = openCacheDatabase(":memory:");
    const onSqlite = exercise(new KeyValueCache(db, "parity"));
    const inMemory = exercise(KeyValueCache.inMemory("parity"));
    db.close();
    expect(inMemory).toEqual(onSqlite);
    // The comparison is only worth something if the sequence produced distinct answers.
    expect(onSqlite[0]).toEqual([
      ["A", 10],
      [1, "one"],
      ["1", "text one"],
      ['["pwm",17]', "bytes:00ff"],
      ["B", null],
    ]);
    expect(onSqlite.at(-2)).toBe("00ff");
  });

  it("refuses a cache name that is not a table name", () => {
    expect(() => KeyValueCache.inMemory("leds; DROP TABLE x")).toThrow("bad cache name: leds; DROP TABLE x");
  });
});
