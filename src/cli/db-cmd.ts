/**
 * `pio db …` (leader only in the original, which registers it only on the leader):
 *   pio db            an interactive shell on the leader database (sqlite3 -column -header, or psql)
 *   pio db migrate    bring the database to the current schema
 *   pio db status     list applied and pending migrations
 *   pio db backup     online backup to <database>.backup (the original's `pio run backup_database`)
 */
import type { Command } from "commander";
import type { ConfigReader } from "../config/types";
import { type BackupBookkeeping, backupDatabase } from "../leader/db/backup";
import { migrateToLatest, migrationStatus } from "../leader/db/migrate";
import { databaseTargetFromConfig, openDatabase } from "../leader/db/open";
import type { Clock } from "../util/clock";
import { CliError } from "./exit";

export interface DbCommandDeps {
  loadConfig(): ConfigReader;
  clock: Clock;
  print(line: string): void;
  /** Runs a program with the terminal attached; resolves to its exit code (rejects if it cannot start). */
  runInteractive(command: string, args: string[]): Promise<number>;
  /** The streaming job's `inserts_in_last_60s`, so a backup can dodge busy periods. */
  recentInsertCount?: () => number | Promise<number>;
  backupBookkeeping?: BackupBookkeeping;
}

export function registerDbCommands(program: Command, deps: DbCommandDeps): Command {
  const db = program.command("db").description("the leader database: shell, migrations, backups");

  db.command("shell", { isDefault: true })
    .description("open an interactive shell on the leader database")
    .action(async () => {
      const target = databaseTargetFromConfig(deps.loadConfig());
      const [command, args] =
        target.client === "sqlite"
          ? ["sqlite3", [target.filename, "-column", "-header"]]
          : ["psql", [typeof target.connection === "string" ? target.connection : ""]];
      let code: number;
      try {
        code = await deps.runInteractive(command, args);
      } catch {
        throw new CliError(`Could not start '${command}'. Is it installed?`);
      }
      if (code !== 0) throw new CliError(`${command} exited with code ${code}.`, code);
    });

  db.command("migrate")
    .description("apply pending migrations (safe on a database the original created)")
    .action(async () => {
      const knex = openDatabase(deps.loadConfig());
      try {
        const { applied } = await migrateToLatest(knex);
        deps.print(applied.length === 0 ? "Database is up to date." : `Applied ${applied.length} migration(s): ${applied.join(", ")}`);
      } finally {
        await knex.destroy();
      }
    });

  db.command("status")
    .description("list applied and pending migrations")
    .action(async () => {
      const knex = openDatabase(deps.loadConfig());
      try {
        const { completed, pending } = await migrationStatus(knex);
        for (const name of completed) deps.print(`applied  ${name}`);
        for (const name of pending) deps.print(`pending  ${name}`);
      } finally {
        await knex.destroy();
      }
    });

  db.command("backup")
    .description("back up the SQLite database (skipped while data is streaming in, unless --force)")
    .option("--output <path>", "where to write the backup (default: <database>.backup)")
    .option("--force", "back up even if the database is busy")
    .action(async (opts: { output?: string; force?: boolean }) => {
      const target = databaseTargetFromConfig(deps.loadConfig());
      if (target.client !== "sqlite") {
        throw new CliError("pio db backup works on the SQLite database only; back up PostgreSQL with pg_dump.");
      }
      const result = await backupDatabase(
        { databasePath: target.filename, outputPath: opts.output, force: opts.force },
        { clock: deps.clock, recentInsertCount: deps.recentInsertCount, bookkeeping: deps.backupBookkeeping },
      );
      deps.print(result.status === "completed" ? `Backed up database to ${result.outputPath}.` : result.message);
    });

  return db;
}
