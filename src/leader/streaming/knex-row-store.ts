/**
 * RowStore through knex, for PostgreSQL (`[storage] database_url`). Rows are inserted as
 * multi-row INSERTs per table inside one transaction. If the database refuses a row, the whole
 * transaction is void in PostgreSQL, so the batch is replayed row by row, each in a savepoint,
 * to keep every good row and name the bad ones.
 */
import type { Knex } from "knex";
import { type BatchResult, insertSql, type RowStore, type RowWriteError } from "./row-store";
import type { TableRow } from "./sinks";

/** Rows per INSERT: stays far below PostgreSQL's 65,535 bind parameters for any of our tables. */
const ROWS_PER_INSERT = 500;

/**
 * PostgreSQL SQLSTATE classes about the data or the statement (22 data exception, 23 integrity
 * constraint, 42 undefined table/column …): the row's fault. Anything else is the database's.
 */
export function isRowRefusal(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  if (/^(22|23|42)/.test(code)) return true;
  return /^SQLITE_(CONSTRAINT|MISMATCH|ERROR|RANGE|TOOBIG)/.test(code);
}

function groupByTableAndColumns(rows: readonly TableRow[]): TableRow[][] {
  const groups = new Map<string, TableRow[]>();
  for (const r of rows) {
    const key = `${r.table}\u0000${Object.keys(r.row).join("\u0000")}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()];
}

export class KnexRowStore implements RowStore {
  constructor(
    private readonly knex: Knex,
    readonly description: string,
  ) {}

  async writeBatch(rows: readonly TableRow[]): Promise<BatchResult> {
    try {
      await this.knex.transaction(async (trx) => {
        for (const group of groupByTableAndColumns(rows)) {
          for (let i = 0; i < group.length; i += ROWS_PER_INSERT) {
            await trx(group[0].table).insert(group.slice(i, i + ROWS_PER_INSERT).map((r) => r.row));
          }
        }
      });
      return { inserted: rows.length, rowErrors: [] };
    } catch (e) {
      if (!isRowRefusal(e)) throw e;
    }
    return this.writeRowByRow(rows);
  }

  private async writeRowByRow(rows: readonly TableRow[]): Promise<BatchResult> {
    const rowErrors: RowWriteError[] = [];
    let inserted = 0;
    await this.knex.transaction(async (trx) => {
      for (const { table, row } of rows) {
        try {
          await trx.transaction(async (savepoint) => {
            await savepoint(table).insert(row);
          });
          inserted += 1;
        } catch (e) {
          if (!isRowRefusal(e)) throw e;
          rowErrors.push({ table, row, error: e as Error, sql: insertSql(table, Object.keys(row), (_c, i) => `$${i + 1}`) });
        }
      }
    });
    return { inserted, rowErrors };
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}
