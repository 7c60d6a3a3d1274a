/** Shared helpers for the leader tests: temp SQLite files, schema snapshots, the mirror, PG. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";

export function tempDir(prefix = "pio-leader-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const MIRROR = "/work/.mirror/Pioreactor+pioreactor/repo";

/** A file of the original's source at HEAD, or undefined when the mirror is not on this machine. */
export function readMirrorFile(path: string): string | undefined {
  try {
    return execFileSync("git", ["-C", MIRROR, "show", `HEAD:${path}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

const IGNORED_TABLES = /^(sqlite_|knex_)/;

export interface SchemaSnapshot {
  tables: Record<
    string,
    {
      columns: unknown[];
      indexes: Array<{ name: string; unique: number; origin: string; partial: number; columns: unknown[] }>;
      foreignKeys: unknown[];
    }
  >;
  triggers: Array<{ name: string; table: string }>;
  views: string[];
}

/** Everything PRAGMAs say about the schema, in a comparable, order-independent form. */
export function snapshotSqliteSchema(db: BetterSqlite3.Database): SchemaSnapshot {
  const master = db.prepare("SELECT type, name, tbl_name FROM sqlite_master ORDER BY name").all() as Array<{
    type: string;
    name: string;
    tbl_name: string;
  }>;
  const tables: SchemaSnapshot["tables"] = {};
  for (const t of master.filter((m) => m.type === "table" && !IGNORED_TABLES.test(m.name))) {
    const indexes = (db.pragma(`index_list(${t.name})`) as Array<{ name: string; unique: number; origin: string; partial: number }>)
      .map((ix) => ({
        name: ix.name,
        unique: ix.unique,
        origin: ix.origin,
        partial: ix.partial,
        columns: (db.pragma(`index_xinfo(${ix.name})`) as Array<{ key: number }>).filter((c) => c.key === 1),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    tables[t.name] = {
      columns: db.pragma(`table_info(${t.name})`) as unknown[],
      indexes,
      foreignKeys: db.pragma(`foreign_key_list(${t.name})`) as unknown[],
    };
  }
  return {
    tables,
    triggers: master.filter((m) => m.type === "trigger").map((m) => ({ name: m.name, table: m.tbl_name })),
    views: master.filter((m) => m.type === "view").map((m) => m.name),
  };
}

/** PostgreSQL tests run only where PG_TEST_URL names a server (CI, dev boxes); elsewhere they skip. */
export const PG_TEST_URL = process.env.PG_TEST_URL;
export const describeIfPg = PG_TEST_URL ? describe : describe.skip;

export function uniqueSchemaName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
