/**
 * The leader database's migrations, listed explicitly and in order. knex is handed this list
 * through a custom migration source, so the same code runs from TypeScript (jest) and from
 * compiled JavaScript with no directory scanning or file-extension rules.
 *
 * Names are what knex records in `knex_migrations`: never rename or reorder a shipped entry.
 */
import type { Knex } from "knex";
import * as leaderTables from "./20260804000000_leader_tables_26_7_2";
import * as leaderViewsAndTriggers from "./20260804000001_leader_views_and_triggers_26_7_2";

export interface NamedMigration {
  name: string;
  migration: Knex.Migration;
}

export const LEADER_MIGRATIONS: readonly NamedMigration[] = [
  { name: "20260804000000_leader_tables_26_7_2", migration: leaderTables },
  { name: "20260804000001_leader_views_and_triggers_26_7_2", migration: leaderViewsAndTriggers },
];
