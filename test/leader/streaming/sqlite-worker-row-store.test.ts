/**
 * The SQLite writer thread as the streaming writer sees it: real migrated files, the compiled
 * worker (skipped, saying why, without a build). Same contract as SqliteRowStore: refused rows
 * are reported and the rest committed; a failing database rejects and commits nothing.
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { IniDocument } from "../../../src/config/ini";
import { LayeredConfig } from "../../../src/config/layered";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { rowStoreFromConfig } from "../../../src/leader/streaming/job";
import type { TableRow } from "../../../src/leader/streaming/sinks";
import { SqliteRowStore } from "../../../src/leader/streaming/sqlite-row-store";
import { SqliteWorkerRowStore, sqliteWriterThreadScript } from "../../../src/leader/streaming/sqlite-worker-row-store";
import { tempDir } from "../helpers";
import { writerThreadProblem } from "./writer-thread";

const skipReason = writerThreadProblem();
if (skipReason) process.stdout.write(`skipping the SQLite writer thread tests: ${skipReason}\n`);
const describeThread = skipReason ? describe.skip : describe;

function odRow(i: number, unit = "u1"): TableRow {
  return {
    table: "od_readings",
    row: { experiment: "exp", pioreactor_unit: unit, timestamp: `2026-01-01T00:00:00.${String(i % 1000).padStart(3, "0")}Z`, od_reading: i, angle: 90, channel: 1 },
  };
}

describeThread("SqliteWorkerRowStore", () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  let store: SqliteWorkerRowStore | undefined;

  beforeEach(async () => {
    tmp = tempDir("pio-stream-thread-");
    file = join(tmp.dir, "pioreactor.sqlite");
    const knex = openDatabase({ client: "sqlite", filename: file });
    await migrateToLatest(knex);
    await knex.destroy();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    tmp.cleanup();
  });

  const stored = () => {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare("SELECT od_reading FROM od_readings ORDER BY rowid").pluck().all();
    } finally {
      db.close();
    }
  };

  it("commits the good rows of a batch, in order, and reports the ones the schema refuses with their statement", async () => {
    store = await SqliteWorkerRowStore.open(file);
    const bad: TableRow = { table: "od_readings", row: { ...odRow(2).row, channel: 7 } };
    const unknownTable: TableRow = { table: "no_such_table", row: { a: 1 } };
    // A second column list for the same table: its own statement.
    const fewer: TableRow = { table: "od_readings", row: { experiment: "exp", pioreactor_unit: "u1", timestamp: "t", od_reading: 4, channel: 2, angle: 135 } };
    const result = await store.writeBatch([odRow(3), bad, unknownTable, odRow(1), fewer]);
    expect(result.inserted).toBe(3);
    expect(result.rowErrors.map((e) => [e.table, e.row, e.error.message, (e.error as Error & { code?: string }).code, e.sql])).toEqual([
      ["od_readings", bad.row, expect.stringContaining("CHECK constraint failed"), expect.stringMatching(/^SQLITE_CONSTRAINT/), expect.stringMatching(/^INSERT INTO "od_readings"/)],
      ["no_such_table", unknownTable.row, expect.stringContaining("no such table"), "SQLITE_ERROR", 'INSERT INTO "no_such_table" ("a") VALUES (?)'],
    ]);
    // Statements are sent once: the next batch reuses them.
    expect((await store.writeBatch([odRow(5), fewer])).inserted).toBe(2);
    expect(stored()).toEqual([3, 1, 4, 5, 4]);
    const db = new Database(file, { readonly: true });
    // Foreign keys are off for the streaming writer; the activity trigger ran in the thread.
    expect(db.prepare("SELECT count(*) FROM experiments").pluck().get()).toBe(0);
    expect(db.prepare("SELECT count(*) FROM pioreactor_unit_activity_data").pluck().get()).toBeGreaterThan(0);
    db.close();
  });

  it("rejects (and keeps nothing) when the database is locked past the busy timeout, then writes the batch again", async () => {
    store = await SqliteWorkerRowStore.open(file, { busyTimeoutMs: 50 });
    const blocker = new Database(file);
    blocker.pragma("busy_timeout = 0");
    blocker.exec("BEGIN IMMEDIATE");
    await expect(store.writeBatch([odRow(1), odRow(2)])).rejects.toMatchObject({ code: "SQLITE_BUSY" });
    blocker.exec("ROLLBACK");
    blocker.close();
    expect(stored()).toEqual([]);
    expect((await store.writeBatch([odRow(1), odRow(2)])).inserted).toBe(2);
    expect(stored()).toEqual([1, 2]);
  });

  it("fails the batch in flight when the thread dies, and writes the next one on a new thread", async () => {
    store = await SqliteWorkerRowStore.open(file);
    await store.writeBatch([odRow(1)]);
    const thread = (store as unknown as { current: { worker: import("node:worker_threads").Worker } }).current.worker;
    const inFlight = store.writeBatch([odRow(2)]);
    await thread.terminate();
    // Either committed just before the thread ended or rejected: never reported written and lost.
    const outcome = await inFlight.then(
      () => "written",
      (e: Error) => e.message,
    );
    if (outcome === "written") expect(stored()).toEqual([1, 2]);
    else expect(outcome).toMatch(/SQLite writer thread stopped/);
    expect((await store.writeBatch([odRow(3)])).inserted).toBe(1);
    expect(stored()).toContain(3);
  });

  it("open() rejects when the file cannot be opened, as SqliteRowStore.open throws", async () => {
    await expect(SqliteWorkerRowStore.open(join(tmp.dir, "missing", "dir", "x.sqlite"))).rejects.toThrow(/directory does not exist/);
  });

  it("keeps the process alive while opening and writing, and lets it exit once closed", () => {
    // A process with nothing else to do (no socket yet): the thread alone must carry it through.
    const built = join(dirname(sqliteWriterThreadScript() as string), "sqlite-worker-row-store.js");
    const script = `
      const { SqliteWorkerRowStore } = require(${JSON.stringify(built)});
      SqliteWorkerRowStore.open(process.argv[1]).then(async (s) => {
        const r = await s.writeBatch([${JSON.stringify(odRow(7))}]);
        await s.close();
        console.log("inserted " + r.inserted);
      });`;
    const out = execFileSync(process.execPath, ["-e", script, file], { encoding: "utf8", timeout: 20_000 });
    expect(out.trim()).toBe("inserted 1");
    expect(stored()).toEqual([7]);
  });

  it("is what `[storage] streaming_writer_thread = 1` selects; off by default", async () => {
    const config = (extra: string) => LayeredConfig.fromDocuments(IniDocument.parse(`[storage]\ndatabase=${file}\n${extra}`));
    const threaded = await rowStoreFromConfig(config("streaming_writer_thread=1\n"), tmp.dir);
    const plain = await rowStoreFromConfig(config(""), tmp.dir);
    expect(threaded).toBeInstanceOf(SqliteWorkerRowStore);
    expect(threaded.writesOffThread).toBe(true);
    expect(plain).toBeInstanceOf(SqliteRowStore);
    await Promise.all([threaded.close(), plain.close()]);
  });

  it("close() ends the thread after the batches already sent", async () => {
    store = await SqliteWorkerRowStore.open(file);
    const writes = [store.writeBatch([odRow(1)]), store.writeBatch([odRow(2)])];
    await store.close();
    expect((await Promise.all(writes)).map((r) => r.inserted)).toEqual([1, 1]);
    expect(stored()).toEqual([1, 2]);
    await expect(store.writeBatch([odRow(3)])).rejects.toThrow(/closed/);
    store = undefined;
  });
});
