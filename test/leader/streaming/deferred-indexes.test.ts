import { join } from "node:path";
import Database from "better-sqlite3";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { BulkLoad } from "../../../src/leader/streaming/bulk-load";
import { DeferredIndexes } from "../../../src/leader/streaming/deferred-indexes";
import { openStreamingConnection } from "../../../src/leader/streaming/sqlite-connection";
import { SqliteRowStore } from "../../../src/leader/streaming/sqlite-row-store";
import { tempDir } from "../helpers";

function schema(db: Database.Database): unknown[] {
  return db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all();
}

function indexSql(db: Database.Database, name: string): string | undefined {
  return db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").pluck().get(name) as string | undefined;
}

describe("DeferredIndexes", () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;

  beforeEach(async () => {
    tmp = tempDir("pio-deferred-");
    file = join(tmp.dir, "pioreactor.sqlite");
    const knex = openDatabase({ client: "sqlite", filename: file });
    await migrateToLatest(knex);
    await knex.destroy();
  });
  afterEach(() => tmp.cleanup());

  it("drops the plain indexes, keeps the UNIQUE ones, and rebuilds the same schema", () => {
    const db = new Database(file);
    const before = schema(db);
    const deferred = DeferredIndexes.drop(db);
    expect(deferred.names).toEqual(expect.arrayContaining(["od_readings_ix", "logs_exp_timestamp_ix"]));
    expect(indexSql(db, "od_readings_ix")).toBeUndefined();
    // The activity triggers upsert through this one: it must stay.
    expect(deferred.names).not.toContain("pioreactor_unit_activity_data_ix");
    expect(indexSql(db, "pioreactor_unit_activity_data_ix")).toMatch(/UNIQUE/);
    deferred.rebuild();
    deferred.rebuild();
    expect(schema(db)).toEqual(before);
    db.close();
  });

  it("is rebuilt when a bulk load's store closes, with the rows written meanwhile indexed and the file back in WAL", async () => {
    const db = openStreamingConnection(file);
    const store = new SqliteRowStore(db, { bulkLoad: BulkLoad.begin(db) });
    // The only connection: the load runs with its journal in memory.
    expect(db.pragma("journal_mode", { simple: true })).toBe("memory");
    const row = { experiment: "exp", pioreactor_unit: "u1", timestamp: "2026-01-01T00:00:00.000Z", od_reading: 0.5, angle: 90, channel: 1 };
    expect((await store.writeBatch([{ table: "od_readings", row }])).inserted).toBe(1);
    await store.close();
    const check = new Database(file, { readonly: true });
    expect(indexSql(check, "od_readings_ix")).toMatch(/CREATE INDEX od_readings_ix/);
    expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(check.pragma("journal_mode", { simple: true })).toBe("wal");
    const plan = check.prepare("EXPLAIN QUERY PLAN SELECT * FROM od_readings WHERE experiment = 'exp' AND pioreactor_unit = 'u1'").all();
    expect(JSON.stringify(plan)).toContain("od_readings_ix");
    check.close();
  });
});
