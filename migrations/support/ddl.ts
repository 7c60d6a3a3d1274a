/**
 * A small table model and its two renderings (SQLite, PostgreSQL), so the leader schema is
 * written once and both databases get the same tables, columns, constraints and indexes.
 *
 * Migrations are history: once a migration using these renderers has shipped, changing how a
 * renderer prints an existing construct changes that migration too. Add new options or new
 * functions instead of altering the output of the existing ones.
 */
import type { Knex } from "knex";

/** The declared SQLite types used by the original schema; PostgreSQL gets a mapping of each. */
export type SqlType = "TEXT" | "REAL" | "INTEGER" | "BLOB";

export interface ColumnDef {
  name: string;
  type: SqlType;
  notNull?: boolean;
  /** A literal SQL default valid in both dialects (e.g. `0`). */
  default?: string;
  /** A CHECK expression valid in both dialects. */
  check?: string;
  /** Column-level UNIQUE (it names its SQLite auto-index in declaration order, so it matters where it sits). */
  unique?: boolean;
}

export interface IndexDef {
  name: string;
  columns: Array<string | { name: string; desc: true }>;
  unique?: boolean;
}

export interface ForeignKeyDef {
  columns: string[];
  refTable: string;
  refColumns: string[];
}

export interface TableDef {
  name: string;
  columns: ColumnDef[];
  primaryKey?: string[];
  /** Table-level UNIQUE constraints, in declaration order. */
  unique?: string[][];
  /** All of the original's foreign keys are `ON DELETE CASCADE`. */
  foreignKeys?: ForeignKeyDef[];
  indexes?: IndexDef[];
  /**
   * Written by the MQTT→DB streaming job. The original turns foreign keys off on that
   * connection so rows for `$experiment` (and experiments the leader has not heard of yet) still
   * land. PostgreSQL cannot switch foreign keys off per connection, so there these tables get
   * no FK constraint; a trigger on `experiments` does the cascading delete instead.
   */
  streamed?: boolean;
}

export type Dialect = "sqlite" | "pg";

export function dialectOf(knex: Knex): Dialect {
  const client = String(knex.client.config.client);
  if (client === "pg" || client === "postgres" || client === "postgresql") return "pg";
  if (client === "better-sqlite3" || client === "sqlite3" || client === "sqlite") return "sqlite";
  throw new Error(`unsupported database client '${client}' (expected better-sqlite3 or pg)`);
}

const PG_TYPES: Record<SqlType, string> = {
  TEXT: "text",
  REAL: "double precision",
  INTEGER: "bigint",
  // The original stores base64 *text* in its only BLOB column (automation settings).
  BLOB: "text",
};

function columnSql(c: ColumnDef, dialect: Dialect): string {
  const parts = [c.name, dialect === "sqlite" ? c.type : PG_TYPES[c.type]];
  if (c.check) parts.push(`CHECK (${c.check})`);
  if (c.notNull) parts.push("NOT NULL");
  if (c.default !== undefined) parts.push(`DEFAULT ${c.default}`);
  if (c.unique) parts.push("UNIQUE");
  return parts.join(" ");
}

export function createTableSql(t: TableDef, dialect: Dialect): string {
  const lines = t.columns.map((c) => columnSql(c, dialect));
  if (t.primaryKey) lines.push(`PRIMARY KEY (${t.primaryKey.join(", ")})`);
  for (const u of t.unique ?? []) lines.push(`UNIQUE (${u.join(", ")})`);
  const withFk = dialect === "sqlite" || !t.streamed;
  for (const fk of withFk ? (t.foreignKeys ?? []) : []) {
    lines.push(
      `FOREIGN KEY (${fk.columns.join(", ")}) REFERENCES ${fk.refTable} (${fk.refColumns.join(", ")}) ON DELETE CASCADE`,
    );
  }
  return `CREATE TABLE IF NOT EXISTS ${t.name} (\n  ${lines.join(",\n  ")}\n)`;
}

export function createIndexSql(table: string, ix: IndexDef): string {
  const cols = ix.columns.map((c) => (typeof c === "string" ? c : `${c.name} DESC`)).join(", ");
  return `CREATE ${ix.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${ix.name} ON ${table} (${cols})`;
}

/** Every statement that creates `t` and its indexes, in order. */
export function tableStatements(t: TableDef, dialect: Dialect): string[] {
  return [createTableSql(t, dialect), ...(t.indexes ?? []).map((ix) => createIndexSql(t.name, ix))];
}

/**
 * Runs statements one at a time: better-sqlite3 prepares a single statement per call.
 * The SQL here never contains `?`, which knex would take for a binding.
 */
export async function runAll(knex: Knex, statements: readonly string[]): Promise<void> {
  for (const sql of statements) await knex.raw(sql);
}
