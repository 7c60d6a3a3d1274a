/**
 * The streaming writer's own SQLite connection, as both the in-thread store and the writer
 * thread open it, and how its errors are told apart. Kept free of knex and the rest of the
 * database layer so the writer thread loads only better-sqlite3 and the pragmas.
 */
import Database from "better-sqlite3";
import { configureSqliteConnection } from "../db/sqlite-pragmas";

/**
 * Result codes that describe the database, not the row: the batch is rolled back and retried.
 * Everything else (SQLITE_CONSTRAINT_*, SQLITE_MISMATCH, "no such table" …) is the row's fault.
 */
const DATABASE_FAILURE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|NOMEM|CORRUPT|NOTADB|PROTOCOL|INTERRUPT)/;

export function isDatabaseFailure(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && DATABASE_FAILURE.test(code);
}

export interface StreamingConnectionOptions {
  /** The leader's memory map (db/open's DEFAULT_MMAP_BYTES); passed in to keep knex out of here. */
  mmapBytes?: number;
  /** Default 15 s, the original's; tests shorten it. */
  busyTimeoutMs?: number;
}

/**
 * The leader's pragmas with foreign keys off, as the original's writer (rows for `$experiment`,
 * and for experiments the leader has not recorded, must still land), plus the original writer's
 * larger WAL checkpoint interval.
 */
export function openStreamingConnection(filename: string, opts: StreamingConnectionOptions = {}): Database.Database {
  const timeout = opts.busyTimeoutMs ?? 15_000;
  const db = new Database(filename, { timeout });
  configureSqliteConnection(db, { foreignKeys: false, mmapBytes: opts.mmapBytes });
  // configureSqliteConnection sets the production busy timeout; a caller's shorter one wins.
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(timeout))}`);
  db.pragma("wal_autocheckpoint = 4000");
  return db;
}
