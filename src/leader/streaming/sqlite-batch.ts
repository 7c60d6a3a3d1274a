/**
 * What the streaming job's main thread sends its SQLite writer thread, and how a batch of rows is
 * packed for it.
 *
 * Why not the rows themselves: `postMessage` clones each row object with its keys, and the
 * worker would then look up the INSERT for every row by those keys again. Instead the main thread
 * numbers each (table, column list) once — a statement id the worker prepares the first time it is
 * sent — and a batch is one flat array of values plus one statement id per row, in arrival order
 * (order matters within a transaction: the activity-table triggers upsert by timestamp).
 */
import { hasColumns, insertSql } from "./row-store";
import type { SqlValue } from "./rows";
import type { TableRow } from "./sinks";

export interface StatementDefinition {
  id: number;
  sql: string;
  /** Values per row. */
  width: number;
}

export interface BatchRequest {
  type: "batch";
  id: number;
  /** Statements this batch uses for the first time. */
  statements: StatementDefinition[];
  /** One statement id per row; its values are the next `width` entries of `values`. */
  statementIds: Int32Array;
  values: SqlValue[];
}

export interface CloseRequest {
  type: "close";
}

export type WriterRequest = BatchRequest | CloseRequest;

/** An error crossing the thread boundary: the message and SQLite's code, no stack. */
export interface ErrorData {
  message: string;
  code?: string;
}

export type WriterReply =
  | { type: "ready" }
  | { type: "open-failed"; error: ErrorData }
  | { type: "written"; id: number; inserted: number; rowErrors: Array<{ index: number; error: ErrorData }> }
  /** The database failed the batch; nothing of it was committed. */
  | { type: "failed"; id: number; error: ErrorData }
  | { type: "closed" };

export function errorData(e: unknown): ErrorData {
  const code = (e as { code?: unknown } | null)?.code;
  return { message: e instanceof Error ? e.message : String(e), ...(typeof code === "string" ? { code } : {}) };
}

/** An Error again, with SQLite's `code`, so the writer and the logs see what the in-thread store gave. */
export function errorFromData(d: ErrorData): Error {
  const e = new Error(d.message);
  if (d.code !== undefined) (e as Error & { code: string }).code = d.code;
  return e;
}

interface KnownStatement {
  id: number;
  columns: readonly string[];
  sql: string;
}

/**
 * Packs batches for one writer thread. Statement ids are only meaningful to the thread that
 * received their definitions: a new thread needs a new encoder.
 */
export class BatchEncoder {
  private readonly byTable = new Map<string, KnownStatement[]>();
  private readonly sqlById: string[] = [];
  private nextBatch = 1;

  /** The SQL of a statement id, for the debug log of a refused row. */
  sql(id: number): string {
    return this.sqlById[id];
  }

  encode(rows: readonly TableRow[]): BatchRequest {
    const statements: StatementDefinition[] = [];
    const statementIds = new Int32Array(rows.length);
    const values: SqlValue[] = [];
    for (let i = 0; i < rows.length; i++) {
      const { table, row } = rows[i];
      const known = this.statementFor(table, row, statements);
      statementIds[i] = known.id;
      for (const column of known.columns) values.push(row[column]);
    }
    return { type: "batch", id: this.nextBatch++, statements, statementIds, values };
  }

  private statementFor(table: string, row: TableRow["row"], added: StatementDefinition[]): KnownStatement {
    let forTable = this.byTable.get(table);
    if (!forTable) {
      forTable = [];
      this.byTable.set(table, forTable);
    }
    for (const known of forTable) if (hasColumns(row, known.columns)) return known;
    const columns = Object.keys(row);
    const known = { id: this.sqlById.length, columns, sql: insertSql(table, columns, () => "?") };
    this.sqlById.push(known.sql);
    forTable.push(known);
    added.push({ id: known.id, sql: known.sql, width: columns.length });
    return known;
  }
}
