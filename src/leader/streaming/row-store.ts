/**
 * The storage port of the streaming writer: insert a batch of rows in one transaction.
 *
 * A store separates two kinds of failure, because they need opposite treatment:
 * - a *row* the database refuses (a CHECK or NOT NULL constraint, an unknown table) will never
 *   succeed: it is reported in `rowErrors` and the rest of the batch is committed;
 * - the *database* failing (locked past the busy timeout, disk full, server gone) says nothing
 *   about the rows: `writeBatch` throws, nothing of the batch is kept, and the writer retries it.
 */
import type { TableRow } from "./sinks";

export interface RowWriteError {
  table: string;
  row: TableRow["row"];
  error: Error;
  /** The statement that failed, for the debug log. */
  sql: string;
}

export interface BatchResult {
  inserted: number;
  rowErrors: RowWriteError[];
}

export interface RowStore {
  /** For log lines: the SQLite file or the server. */
  readonly description: string;
  /**
   * True when writing happens off the job's thread (another thread, a server): waiting for a
   * batch already lets the job read and acknowledge, so the writer need not yield between batches,
   * and larger batches cost the job nothing.
   */
  readonly writesOffThread?: boolean;
  /** Commits every row it can in one transaction; throws (committing nothing) when the database fails. */
  writeBatch(rows: readonly TableRow[]): Promise<BatchResult>;
  close(): Promise<void>;
}

/** `"name"` with embedded quotes doubled: table and column names come from plugins too. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `INSERT INTO <table> (<cols>) VALUES (:<cols>)`, the original's statement, with quoted names. */
export function insertSql(table: string, columns: readonly string[], placeholder: (column: string, i: number) => string): string {
  return `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(", ")}) VALUES (${columns.map(placeholder).join(", ")})`;
}

/** Whether the row's keys are exactly `columns`, in that order. */
export function hasColumns(row: TableRow["row"], columns: readonly string[]): boolean {
  let i = 0;
  for (const key in row) {
    if (columns[i] !== key) return false;
    i += 1;
  }
  return i === columns.length;
}
