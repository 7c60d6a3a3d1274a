/**
 * Opens the leader database through knex: SQLite (the original's file, the default) or
 * PostgreSQL when the configuration names a server.
 *
 * Configuration (`config.ini`):
 *   [storage]
 *   database=/home/pioreactor/.pioreactor/storage/pioreactor.sqlite   ; SQLite file (the original's key)
 *   database_url=postgres://user:pass@host:5432/pioreactor            ; optional; when set, PostgreSQL is used
 */
import type BetterSqlite3 from "better-sqlite3";
import knexFactory, { type Knex } from "knex";
import { ConfigError, type ConfigReader } from "../../config/types";
import { configureSqliteConnection, type SqliteConnectionOptions } from "./sqlite-pragmas";

export interface SqliteTarget extends SqliteConnectionOptions {
  client: "sqlite";
  filename: string;
}

export interface PostgresTarget {
  client: "pg";
  /** A `postgres://` URL or a pg connection object. */
  connection: string | Knex.PgConnectionConfig;
  /** Schema(s) to work in (tests use a throw-away schema); default is the server's search_path. */
  searchPath?: string | string[];
  pool?: { min?: number; max?: number };
}

export type DatabaseTarget = SqliteTarget | PostgresTarget;

/** The original's web server and writer map this much of the file (`PRAGMA mmap_size`). */
export const DEFAULT_MMAP_BYTES = 256 * 1024 * 1024;

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** Reads `[storage] database_url` (PostgreSQL) or `[storage] database` (SQLite file). */
export function databaseTargetFromConfig(config: ConfigReader, sqliteOptions: SqliteConnectionOptions = {}): DatabaseTarget {
  const url = config.get("storage", "database_url")?.trim();
  if (url) {
    if (!POSTGRES_URL.test(url)) {
      throw new ConfigError(`[storage] database_url must start with postgres:// or postgresql://, got '${url}'.`);
    }
    return { client: "pg", connection: url };
  }
  const filename = config.get("storage", "database")?.trim();
  if (!filename) {
    throw new ConfigError("[storage] database is not set: it should name the leader's SQLite file.");
  }
  return { client: "sqlite", filename, ...sqliteOptions };
}

function isTarget(x: DatabaseTarget | ConfigReader): x is DatabaseTarget {
  return typeof (x as DatabaseTarget).client === "string";
}

/**
 * A knex instance for the leader database. Destroy it (`await db.destroy()`) when done.
 * SQLite connections get the original's pragmas (see sqlite-pragmas.ts) as they are created.
 */
export function openDatabase(target: DatabaseTarget | ConfigReader): Knex {
  const t = isTarget(target) ? target : databaseTargetFromConfig(target);
  if (t.client === "pg") {
    return knexFactory({
      client: "pg",
      connection: t.connection,
      searchPath: t.searchPath,
      pool: { min: t.pool?.min ?? 0, max: t.pool?.max ?? 4 },
    });
  }
  const connectionOptions: SqliteConnectionOptions = {
    foreignKeys: t.foreignKeys,
    recursiveTriggers: t.recursiveTriggers,
    mmapBytes: t.mmapBytes ?? DEFAULT_MMAP_BYTES,
  };
  return knexFactory({
    client: "better-sqlite3",
    connection: { filename: t.filename },
    useNullAsDefault: true,
    pool: {
      afterCreate(conn: BetterSqlite3.Database, done: (err: Error | null, conn: BetterSqlite3.Database) => void) {
        try {
          configureSqliteConnection(conn, connectionOptions);
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  });
}
