/**
 * Brings the leader database to the current schema with the migrations in `migrations/`.
 * knex gets them as an explicit list (no directory scanning), so this works the same from
 * TypeScript under jest and from compiled JavaScript.
 */
import type { Knex } from "knex";
import { LEADER_MIGRATIONS, type NamedMigration } from "../../../migrations";

class ListedMigrationSource implements Knex.MigrationSource<NamedMigration> {
  constructor(private readonly migrations: readonly NamedMigration[]) {}

  getMigrations(): Promise<NamedMigration[]> {
    return Promise.resolve([...this.migrations]);
  }

  getMigrationName(m: NamedMigration): string {
    return m.name;
  }

  getMigration(m: NamedMigration): Promise<Knex.Migration> {
    return Promise.resolve(m.migration);
  }
}

function migratorConfig(migrations: readonly NamedMigration[]): Knex.MigratorConfig {
  return { migrationSource: new ListedMigrationSource(migrations) };
}

export interface MigrationOutcome {
  /** Names of the migrations this call applied, in order (empty when already up to date). */
  applied: string[];
}

/** Applies every pending migration. Safe to run repeatedly and on a database the original created. */
export async function migrateToLatest(
  knex: Knex,
  migrations: readonly NamedMigration[] = LEADER_MIGRATIONS,
): Promise<MigrationOutcome> {
  const [, applied] = (await knex.migrate.latest(migratorConfig(migrations))) as [number, string[]];
  return { applied };
}

export interface MigrationStatus {
  completed: string[];
  pending: string[];
}

export async function migrationStatus(
  knex: Knex,
  migrations: readonly NamedMigration[] = LEADER_MIGRATIONS,
): Promise<MigrationStatus> {
  const [completed, pending] = (await knex.migrate.list(migratorConfig(migrations))) as [
    Array<string | { name: string }>,
    NamedMigration[],
  ];
  return {
    completed: completed.map((c) => (typeof c === "string" ? c : c.name)),
    pending: pending.map((p) => p.name),
  };
}
