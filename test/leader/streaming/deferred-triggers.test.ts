import { join } from "node:path";
import Database from "better-sqlite3";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { BulkLoad } from "../../../src/leader/streaming/bulk-load";
import { DeferredTriggers } from "../../../src/leader/streaming/deferred-triggers";
import type { TableRow } from "../../../src/leader/streaming/sinks";
import { openStreamingConnection } from "../../../src/leader/streaming/sqlite-connection";
import { SqliteRowStore } from "../../../src/leader/streaming/sqlite-row-store";
import { tempDir } from "../helpers";

function schema(db: Database.Database): unknown[] {
  return db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all();
}

function activity(file: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT * FROM pioreactor_unit_activity_data ORDER BY experiment, pioreactor_unit, timestamp").raw().all();
  } finally {
    db.close();
  }
}

/** Two units' readings, filtered ODs, growth rates and dosing events, some sharing a timestamp (the upserts must merge). */
function batches(): TableRow[][] {
  const out: TableRow[][] = [];
  for (let b = 0; b < 3; b++) {
    const rows: TableRow[] = [];
    for (let i = 0; i < 40; i++) {
      const n = b * 40 + i;
      const timestamp = `2026-01-01T00:${String(Math.floor(n / 60)).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}.000Z`;
      for (const unit of ["u1", "u2"]) {
        const base = { experiment: "exp", pioreactor_unit: unit, timestamp };
        rows.push({ table: "od_readings", row: { ...base, od_reading: n / 100, angle: 90, channel: 2 } });
        rows.push({ table: "od_readings_filtered", row: { ...base, normalized_od_reading: 1 + n / 1000 } });
        rows.push({ table: "growth_rates", row: { ...base, rate: n / 10 } });
        if (n % 7 === 0) {
          // Two events at one instant: the second must not erase the first's column.
          rows.push({ table: "dosing_events", row: { ...base, event: "add_media", volume_change_ml: 1, source_of_event: "t" } });
          rows.push({ table: "dosing_events", row: { ...base, event: "remove_waste", volume_change_ml: 1, source_of_event: "t" } });
        }
        // A repeated reading at the same instant: the last one wins, as with the trigger.
        if (n % 11 === 0) rows.push({ table: "od_readings", row: { ...base, od_reading: 9 + n, angle: 90, channel: 2 } });
      }
    }
    out.push(rows);
  }
  return out;
}

describe("DeferredTriggers", () => {
  let tmp: ReturnType<typeof tempDir>;
  const files: Record<string, string> = {};

  beforeEach(async () => {
    tmp = tempDir("pio-deferred-triggers-");
    for (const name of ["live", "bulk"]) {
      files[name] = join(tmp.dir, `${name}.sqlite`);
      const knex = openDatabase({ client: "sqlite", filename: files[name] });
      await migrateToLatest(knex);
      await knex.destroy();
    }
  });
  afterEach(() => tmp.cleanup());

  it("defers the row-copying triggers only, and creates them again as they were", () => {
    const db = new Database(files.bulk);
    const before = schema(db);
    const deferred = DeferredTriggers.drop(db);
    expect(deferred.names).toEqual(expect.arrayContaining(["update_pioreactor_unit_activity_data_from_od_readings", "update_pioreactor_unit_activity_data_from_dosing_events"]));
    // An AFTER DELETE trigger is not a row copy: it stays.
    expect(deferred.names).not.toContain("delete_experiment_worker_assignments_history");
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'update_pioreactor_unit_activity_data_from_%'").pluck().get()).toBe(0);
    deferred.restore();
    deferred.restore();
    expect(schema(db)).toEqual(before);
    db.close();
  });

  it("a bulk load fills the activity table exactly as the triggers do, batch by batch", async () => {
    const live = new SqliteRowStore(openStreamingConnection(files.live), { groupByTable: true });
    const bulkDb = openStreamingConnection(files.bulk);
    const bulk = new SqliteRowStore(bulkDb, { bulkLoad: BulkLoad.begin(bulkDb), groupByTable: true });
    for (const rows of batches()) {
      await live.writeBatch(rows);
      await bulk.writeBatch(rows);
    }
    await live.close();
    await bulk.close();
    const expected = activity(files.live);
    expect(expected.length).toBe(240);
    expect(activity(files.bulk)).toEqual(expected);
  });
});
