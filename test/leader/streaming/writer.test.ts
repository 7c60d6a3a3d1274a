import { join } from "node:path";
import Database from "better-sqlite3";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import type { BatchResult, RowStore } from "../../../src/leader/streaming/row-store";
import type { TableRow } from "../../../src/leader/streaming/sinks";
import { openStreamingConnection } from "../../../src/leader/streaming/sqlite-connection";
import { SqliteRowStore } from "../../../src/leader/streaming/sqlite-row-store";
import { BatchingRowWriter, WriterClosedError } from "../../../src/leader/streaming/writer";
import { RealClock, VirtualClock } from "../../../src/util/clock";
import { tempDir } from "../helpers";

const clock = new RealClock();

function odRow(i: number, unit = "u1"): TableRow {
  return {
    table: "od_readings",
    row: { experiment: "exp", pioreactor_unit: unit, timestamp: `2026-01-01T00:00:00.${String(i % 1000).padStart(3, "0")}Z`, od_reading: i, angle: 90, channel: 1 },
  };
}

/** Records batches; fails the first `failures` calls as a locked database would. */
class FakeStore implements RowStore {
  readonly description = "fake";
  readonly batches: TableRow[][] = [];
  calls = 0;
  constructor(
    private failures = 0,
    private readonly delayMs = 0,
  ) {}
  async writeBatch(rows: readonly TableRow[]): Promise<BatchResult> {
    this.calls += 1;
    if (this.delayMs) await clock.sleep(this.delayMs);
    if (this.failures > 0) {
      this.failures -= 1;
      throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
    }
    this.batches.push([...rows]);
    return { inserted: rows.length, rowErrors: [] };
  }
  async close(): Promise<void> {}
  written(): number[] {
    return this.batches.flat().map((r) => r.row.od_reading as number);
  }
}

describe("BatchingRowWriter", () => {
  it("groups rows that arrive together into one batch, in order", async () => {
    const store = new FakeStore();
    const writer = new BatchingRowWriter({ store, clock });
    for (let i = 0; i < 500; i++) writer.add(odRow(i));
    await writer.whenIdle();
    expect(store.batches).toHaveLength(1);
    expect(store.written()).toEqual([...Array(500).keys()]);
  });

  it("caps batches at maxBatchRows", async () => {
    const store = new FakeStore();
    const writer = new BatchingRowWriter({ store, clock, maxBatchRows: 100 });
    writer.add([...Array(250).keys()].map((i) => odRow(i)));
    await writer.whenIdle();
    expect(store.batches.map((b) => b.length)).toEqual([100, 100, 50]);
  });

  it("takes 4,000-row batches from a store that writes off the job's thread, 1,000 otherwise", async () => {
    const offThread = Object.assign(new FakeStore(), { writesOffThread: true });
    const onThread = new FakeStore();
    for (const store of [offThread, onThread]) {
      const writer = new BatchingRowWriter({ store, clock, highWaterRows: 20_000 });
      writer.add([...Array(9000).keys()].map((i) => odRow(i)));
      await writer.whenIdle();
    }
    expect(offThread.batches.map((b) => b.length)).toEqual([4000, 4000, 1000]);
    expect(onThread.batches.map((b) => b.length)).toEqual(Array(9).fill(1000));
  });

  it("lets the event loop run between batches of a backlog (so the broker's messages keep being acknowledged)", async () => {
    const store = new FakeStore();
    const writer = new BatchingRowWriter({ store, clock, maxBatchRows: 100 });
    writer.add([...Array(300).keys()].map((i) => odRow(i)));
    // I/O callbacks and immediates queued while batches are being written run in between them.
    const batchesSeenByImmediates: number[] = [];
    const watch = () => {
      batchesSeenByImmediates.push(store.batches.length);
      if (store.batches.length < 3) setImmediate(watch);
    };
    setImmediate(watch);
    await writer.whenIdle();
    expect(store.written()).toEqual([...Array(300).keys()]);
    expect(batchesSeenByImmediates).toEqual(expect.arrayContaining([1, 2]));
  });

  it("keeps a batch the database failed and retries it: nothing lost, failures reported", async () => {
    const store = new FakeStore(3);
    const failures: number[] = [];
    const writer = new BatchingRowWriter({ store, clock, retryDelayMs: 5, onBatchFailure: (_e, attempt) => failures.push(attempt) });
    for (let i = 0; i < 10; i++) writer.add(odRow(i));
    await writer.whenIdle();
    expect(failures).toEqual([1, 2, 3]);
    expect(store.written()).toEqual([...Array(10).keys()]);
  });

  it("stops accepting at the high-water mark and accepts again at the low-water mark", async () => {
    const store = new FakeStore(0, 20);
    const writer = new BatchingRowWriter({ store, clock, highWaterRows: 100, lowWaterRows: 20, maxBatchRows: 50 });
    for (let i = 0; i < 99; i++) writer.add(odRow(i));
    expect(writer.accepting).toBe(true);
    writer.add(odRow(99));
    expect(writer.accepting).toBe(false);
    let resumedAt: number | undefined;
    await writer.whenAccepting().then(() => {
      resumedAt = writer.backlog;
    });
    expect(resumedAt).toBeLessThanOrEqual(20);
    await writer.whenIdle();
    expect(store.written()).toHaveLength(100);
  });

  it("close() writes what is queued, then refuses new rows", async () => {
    const store = new FakeStore(0, 5);
    const writer = new BatchingRowWriter({ store, clock });
    for (let i = 0; i < 30; i++) writer.add(odRow(i));
    expect(await writer.close()).toBe(0);
    expect(store.written()).toHaveLength(30);
    expect(() => writer.add(odRow(1))).toThrow(WriterClosedError);
  });

  it("close() writes a batch still waiting out batchDelayMs at once, even when the delay outlasts the give-up time", async () => {
    const virtual = new VirtualClock();
    const store = new FakeStore();
    const writer = new BatchingRowWriter({ store, clock: virtual, batchDelayMs: 300_000 });
    writer.add(odRow(7));
    const closing = writer.close(30_000);
    await virtual.advance(60_000);
    expect(await closing).toBe(0);
    expect(store.written()).toEqual([7]);
    // The cancelled delay timer does not write again.
    await virtual.advance(600_000);
    expect(store.batches).toHaveLength(1);
  });

  it("close() gives up on a database that keeps failing and says how many rows were not written", async () => {
    const store = new FakeStore(Number.POSITIVE_INFINITY);
    const writer = new BatchingRowWriter({ store, clock, retryDelayMs: 5, maxRetryDelayMs: 10 });
    for (let i = 0; i < 7; i++) writer.add(odRow(i));
    expect(await writer.close(100)).toBe(7);
  });
});

describe("SqliteRowStore", () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;

  beforeEach(async () => {
    tmp = tempDir("pio-stream-");
    file = join(tmp.dir, "pioreactor.sqlite");
    const knex = openDatabase({ client: "sqlite", filename: file });
    await migrateToLatest(knex);
    await knex.destroy();
  });
  afterEach(() => tmp.cleanup());

  it("commits the good rows of a batch and reports the ones the schema refuses", async () => {
    const store = SqliteRowStore.open(file);
    const bad: TableRow = { table: "od_readings", row: { ...odRow(2).row, channel: 7 } };
    const unknownTable: TableRow = { table: "no_such_table", row: { a: 1 } };
    const result = await store.writeBatch([odRow(1), bad, unknownTable, odRow(3)]);
    await store.close();
    expect(result.inserted).toBe(2);
    expect(result.rowErrors.map((e) => [e.table, e.error.message])).toEqual([
      ["od_readings", expect.stringContaining("CHECK constraint failed")],
      ["no_such_table", expect.stringContaining("no such table")],
    ]);
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT od_reading FROM od_readings ORDER BY od_reading").pluck().all()).toEqual([1, 3]);
    // Foreign keys are off for the streaming writer: `exp` is not in `experiments`, yet the rows landed.
    expect(db.prepare("SELECT count(*) FROM experiments").pluck().get()).toBe(0);
    db.close();
  });

  it("groupByTable: stores what row by row would, refusing only the bad rows of a grouped statement", async () => {
    const store = new SqliteRowStore(openStreamingConnection(file), { groupByTable: true });
    const rows: TableRow[] = [];
    // 120 rows a table: two statements of 50, then 16 and 4. Row 7 spoils a 50-row statement, row 110 a 16-row one.
    const bad = new Set([7, 110]);
    for (let i = 0; i < 120; i++) {
      rows.push(bad.has(i) ? { table: "od_readings", row: { ...odRow(i).row, channel: 7 } } : odRow(i));
      rows.push({ table: "growth_rates", row: { experiment: "exp", pioreactor_unit: "u1", timestamp: odRow(i).row.timestamp, rate: i } });
    }
    rows.push({ table: "no_such_table", row: { a: 1 } });
    const result = await store.writeBatch(rows);
    await store.close();
    expect(result.inserted).toBe(238);
    expect(result.rowErrors.map((e) => [e.table, e.row.od_reading ?? null])).toEqual([
      ["od_readings", 7],
      ["od_readings", 110],
      ["no_such_table", null],
    ]);
    const db = new Database(file, { readonly: true });
    const expected = [...Array(120).keys()];
    expect(db.prepare("SELECT od_reading FROM od_readings ORDER BY rowid").pluck().all()).toEqual(expected.filter((i) => !bad.has(i)));
    expect(db.prepare("SELECT rate FROM growth_rates ORDER BY rowid").pluck().all()).toEqual(expected);
    expect(db.prepare("SELECT count(*) FROM pioreactor_unit_activity_data WHERE od_reading IS NOT NULL AND growth_rate IS NOT NULL").pluck().get()).toBe(118);
    db.close();
  });

  it("throws (and keeps nothing) when the database is locked past the busy timeout", async () => {
    const store = SqliteRowStore.open(file);
    const blocker = new Database(file);
    blocker.pragma("busy_timeout = 0");
    blocker.exec("BEGIN IMMEDIATE");
    // A short busy timeout so the test does not wait the production 15 s.
    (store as unknown as { db: Database.Database }).db.pragma("busy_timeout = 50");
    await expect(store.writeBatch([odRow(1)])).rejects.toMatchObject({ code: "SQLITE_BUSY" });
    blocker.exec("ROLLBACK");
    blocker.close();
    expect((await store.writeBatch([odRow(1)])).inserted).toBe(1);
    await store.close();
  });
});
