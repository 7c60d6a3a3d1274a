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
import type { BulkLoad } from "./bulk-load";
import type { SqlValue } from "./rows";
import { type BatchResult, hasColumns, insertSql, type RowStore, type RowWriteError } from "./row-store";
import type { TableRow } from "./sinks";
import { isDatabaseFailure, openStreamingConnection } from "./sqlite-connection";

export { isDatabaseFailure };

interface PreparedInsert {
  columns: readonly string[];
  sql: string;
  stmt: Database.Statement;
  /** The same INSERT for several rows at once, by row count, prepared on first use. */
  grouped?: Map<number, Database.Statement>;
}

/** Rows per multi-row INSERT: 50 × ≤ 16 columns stays far below SQLite's parameter limit. */
const GROUPED_ROWS = 50;

export interface SqliteRowStoreOptions {
  /** A bulk load (the fast simulation), finished when the store closes. */
  bulkLoad?: BulkLoad;
  /**
   * Insert a batch table by table, 50 rows per statement, instead of row by row in arrival order
   * (≈ 15 % less SQLite work a row). Rows of one table keep their order; rows of different tables
   * do not, which the built-in activity triggers do not mind (each table writes its own columns)
   * but a plugin's trigger might: only for the simulation, whose schema is the built-in one.
   */
  groupByTable?: boolean;
}

function largestPowerOfTwoAtMost(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

export class SqliteRowStore implements RowStore {
  readonly description: string;
  /** Per table, one prepared INSERT per column list (plugins' rows may differ from ours). */
  private readonly statements = new Map<string, PreparedInsert[]>();

  constructor(
    private readonly db: Database.Database,
    private readonly options: SqliteRowStoreOptions = {},
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
    this.db.exec("BEGIN IMMEDIATE");
    let inserted: number;
    try {
      inserted = this.options.groupByTable ? this.insertGrouped(rows, rowErrors) : this.insertEach(rows, rowErrors);
      this.options.bulkLoad?.afterInserts();
      this.db.exec("COMMIT");
      this.options.bulkLoad?.batchEnded(true);
    } catch (e) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      this.options.bulkLoad?.batchEnded(false);
      throw e;
    }
    return { inserted, rowErrors };
  }

  /** Row by row; returns how many were inserted. */
  private insertEach(rows: readonly TableRow[], rowErrors: RowWriteError[]): number {
    let inserted = 0;
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
    return inserted;
  }

  /** Table by table in full groups of GROUPED_ROWS (see `groupByTable`); returns how many were inserted. */
  private insertGrouped(rows: readonly TableRow[], rowErrors: RowWriteError[]): number {
    const groups = new Map<PreparedInsert, TableRow[]>();
    const ungrouped: TableRow[] = [];
    for (const r of rows) {
      let entry: PreparedInsert;
      try {
        entry = this.statementFor(r.table, r.row);
      } catch {
        ungrouped.push(r); // (no such table…: reported by insertEach)
        continue;
      }
      const group = groups.get(entry);
      if (group) group.push(r);
      else groups.set(entry, [r]);
    }
    let inserted = 0;
    for (const [entry, group] of groups) {
      // Full groups, then what is left in halving sizes (49 rows = 32 + 16 + 1): a statement per
      // leftover row cost a third of the streamer's SQLite time.
      for (let i = 0; i < group.length; ) {
        const left = group.length - i;
        const size = left >= GROUPED_ROWS ? GROUPED_ROWS : largestPowerOfTwoAtMost(left);
        const chunk = group.slice(i, i + size);
        i += size;
        if (size === 1) {
          inserted += this.insertEach(chunk, rowErrors);
          continue;
        }
        const values: SqlValue[] = [];
        for (const { row } of chunk) for (const column of entry.columns) values.push(row[column]);
        try {
          this.groupedStatement(entry, size).run(values);
          inserted += size;
        } catch (e) {
          if (isDatabaseFailure(e)) throw e;
          // The statement was undone as a whole: its rows again one by one, to keep the good ones.
          inserted += this.insertEach(chunk, rowErrors);
        }
      }
    }
    return inserted + this.insertEach(ungrouped, rowErrors);
  }

  /** The entry's INSERT for `size` rows at once, prepared on first use. */
  private groupedStatement(entry: PreparedInsert, size: number): Database.Statement {
    entry.grouped ??= new Map();
    let stmt = entry.grouped.get(size);
    if (!stmt) {
      stmt = this.db.prepare(`${entry.sql}${`, (${entry.columns.map(() => "?").join(", ")})`.repeat(size - 1)}`);
      entry.grouped.set(size, stmt);
    }
    return stmt;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.options.bulkLoad?.finish();
    } finally {
      this.db.close();
    }
  }
}
