/**
 * RowStore on the leader's SQLite file through better-sqlite3 directly (not knex): one prepared
 * statement per table and column set, run inside a single transaction per batch. That is what
 * lets the leader store tens of thousands of rows a second on a Raspberry Pi.
 *
 * The connection gets the leader's pragmas with foreign keys off, as the original's writer
 * (rows for `$experiment` and for experiments the leader has not recorded must still land),
 * plus the original writer's larger WAL checkpoint interval and memory map.
 */
import type Database from "better-sqlite3";
import { DEFAULT_MMAP_BYTES } from "../db/open";
import type { DeferredIndexes } from "./deferred-indexes";
import { type BatchResult, hasColumns, insertSql, type RowStore, type RowWriteError } from "./row-store";
import type { TableRow } from "./sinks";
import { isDatabaseFailure, openStreamingConnection } from "./sqlite-connection";

export { isDatabaseFailure };

interface PreparedInsert {
  columns: readonly string[];
  sql: string;
  stmt: Database.Statement;
}

export class SqliteRowStore implements RowStore {
  readonly description: string;
  /** Per table, one prepared INSERT per column list (plugins' rows may differ from ours). */
  private readonly statements = new Map<string, PreparedInsert[]>();

  /**
   * `deferredIndexes`: indexes dropped for a bulk load (the fast simulation), created again when
   * the store closes, before the connection does.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly deferredIndexes?: DeferredIndexes,
  ) {
    this.description = db.name;
  }

  /** Opens (creating if needed) the file; the schema is the migrations' job, not this store's. */
  static open(filename: string): SqliteRowStore {
    return new SqliteRowStore(openStreamingConnection(filename, { mmapBytes: DEFAULT_MMAP_BYTES }));
  }

  private statementFor(table: string, row: TableRow["row"]): PreparedInsert {
    let forTable = this.statements.get(table);
    if (!forTable) {
      forTable = [];
      this.statements.set(table, forTable);
    }
    // Compared key by key rather than by a joined string: this runs once per stored row.
    for (const entry of forTable) if (hasColumns(row, entry.columns)) return entry;
    const columns = Object.keys(row);
    const sql = insertSql(table, columns, () => "?");
    const entry = { columns, sql, stmt: this.db.prepare(sql) };
    forTable.push(entry);
    return entry;
  }

  async writeBatch(rows: readonly TableRow[]): Promise<BatchResult> {
    const rowErrors: RowWriteError[] = [];
    let inserted = 0;
    this.db.exec("BEGIN IMMEDIATE");
    try {
      for (const { table, row } of rows) {
        let sql = `INSERT INTO ${table}`;
        try {
          const entry = this.statementFor(table, row);
          sql = entry.sql;
          entry.stmt.run(Object.values(row));
          inserted += 1;
        } catch (e) {
          if (isDatabaseFailure(e)) throw e;
          // A failed statement is undone on its own; the transaction and the other rows carry on.
          rowErrors.push({ table, row, error: e as Error, sql });
        }
      }
      this.db.exec("COMMIT");
    } catch (e) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw e;
    }
    return { inserted, rowErrors };
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.deferredIndexes?.rebuild();
    } finally {
      this.db.close();
    }
  }
}
