/**
 * The original's views and triggers at 26.7.2, written for both databases.
 *
 * SQLite: views and triggers are dropped and re-created rather than kept when they exist,
 * because the original wrote them with double-quoted string literals (`"A"`, `"%s"`), which
 * better-sqlite3 (built with SQLITE_DQS=0) rejects as unknown columns the moment a view is read
 * or a triggered table is written. Re-creating them with single quotes repairs a database the
 * original created, without changing what they do.
 *
 * PostgreSQL: triggers become PL/pgSQL functions, `rowid` becomes `experiments.insertion_order`,
 * and a trigger on `experiments` replaces the ON DELETE CASCADE of the streamed tables (see
 * `TableDef.streamed`).
 */
import type { Knex } from "knex";
import { LEADER_TABLES } from "./20260804000000_leader_tables_26_7_2";
import { type Dialect, dialectOf, runAll } from "./support/ddl";

const ACTIVITY = "pioreactor_unit_activity_data";
const ACTIVITY_KEY = "experiment, pioreactor_unit, timestamp";

/**
 * How one source table feeds `pioreactor_unit_activity_data`: each target column gets an
 * expression over `new`; `coalesce` keeps what a same-timestamp row already had (LED channels
 * and dosing events arrive one per row but share a timestamp), otherwise the newest value wins.
 */
interface ActivityFeed {
  table: string;
  columns: Array<{ target: string; expr: string }>;
  coalesce: boolean;
}

const caseWhen = (column: string, value: string, source: string) =>
  `CASE WHEN new.${column} = '${value}' THEN new.${source} END`;

const ACTIVITY_FEEDS: readonly ActivityFeed[] = [
  { table: "od_readings", columns: [{ target: "od_reading", expr: "new.od_reading" }], coalesce: false },
  { table: "od_readings_fused", columns: [{ target: "od_fused", expr: "new.od_reading" }], coalesce: false },
  {
    table: "od_readings_filtered",
    columns: [{ target: "normalized_od_reading", expr: "new.normalized_od_reading" }],
    coalesce: false,
  },
  { table: "growth_rates", columns: [{ target: "growth_rate", expr: "new.rate" }], coalesce: false },
  { table: "temperature_readings", columns: [{ target: "temperature_c", expr: "new.temperature_c" }], coalesce: false },
  { table: "stirring_rates", columns: [{ target: "measured_rpm", expr: "new.measured_rpm" }], coalesce: false },
  {
    table: "led_change_events",
    columns: ["A", "B", "C", "D"].map((ch) => ({
      target: `led_${ch.toLowerCase()}_intensity_update`,
      expr: caseWhen("channel", ch, "intensity"),
    })),
    coalesce: true,
  },
  {
    table: "dosing_events",
    columns: [
      { target: "add_media_ml", expr: caseWhen("event", "add_media", "volume_change_ml") },
      { target: "remove_waste_ml", expr: caseWhen("event", "remove_waste", "volume_change_ml") },
      { target: "add_alt_media_ml", expr: caseWhen("event", "add_alt_media", "volume_change_ml") },
    ],
    coalesce: true,
  },
];

const feedTriggerName = (table: string) => `update_pioreactor_unit_activity_data_from_${table}`;

function upsertActivitySql(feed: ActivityFeed): string {
  const targets = feed.columns.map((c) => c.target);
  const sets = targets.map((c) => (feed.coalesce ? `${c} = COALESCE(excluded.${c}, ${ACTIVITY}.${c})` : `${c} = excluded.${c}`));
  return (
    `INSERT INTO ${ACTIVITY} (pioreactor_unit, experiment, timestamp, ${targets.join(", ")}) ` +
    `VALUES (new.pioreactor_unit, new.experiment, new.timestamp, ${feed.columns.map((c) => c.expr).join(", ")}) ` +
    `ON CONFLICT (${ACTIVITY_KEY}) DO UPDATE SET ${sets.join(", ")};`
  );
}

const ASSIGNMENT_INSERT_SQL =
  "INSERT INTO experiment_worker_assignments_history (pioreactor_unit, experiment, assigned_at) " +
  "VALUES (new.pioreactor_unit, new.experiment, new.assigned_at);";

/** `nowMillisZ` renders the current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ` in each dialect. */
const assignmentDeleteSql = (nowMillisZ: string) =>
  `UPDATE experiment_worker_assignments_history SET unassigned_at = ${nowMillisZ} ` +
  "WHERE pioreactor_unit = old.pioreactor_unit AND experiment = old.experiment " +
  "AND assigned_at = old.assigned_at AND unassigned_at IS NULL;";

interface TriggerDef {
  name: string;
  event: "INSERT" | "DELETE";
  table: string;
  body: (dialect: Dialect) => string;
}

const TRIGGERS: readonly TriggerDef[] = [
  ...ACTIVITY_FEEDS.map(
    (feed): TriggerDef => ({
      name: feedTriggerName(feed.table),
      event: "INSERT",
      table: feed.table,
      body: () => upsertActivitySql(feed),
    }),
  ),
  {
    name: "insert_experiment_worker_assignments_history",
    event: "INSERT",
    table: "experiment_worker_assignments",
    body: () => ASSIGNMENT_INSERT_SQL,
  },
  {
    name: "delete_experiment_worker_assignments_history",
    event: "DELETE",
    table: "experiment_worker_assignments",
    body: (d) =>
      assignmentDeleteSql(
        d === "sqlite"
          ? "STRFTIME('%Y-%m-%dT%H:%M:%fZ', 'NOW')"
          : `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
      ),
  },
];

const ROLLUP_AGGREGATES = [
  "avg(od_reading) AS avg_od_reading",
  "avg(od_fused) AS avg_od_fused",
  "avg(normalized_od_reading) AS avg_normalized_od_reading",
  "avg(temperature_c) AS avg_temperature_c",
  "avg(growth_rate) AS avg_growth_rate",
  "avg(measured_rpm) AS avg_measured_rpm",
  "sum(add_media_ml) AS sum_add_media_ml",
  "sum(remove_waste_ml) AS sum_remove_waste_ml",
  "sum(add_alt_media_ml) AS sum_add_alt_media_ml",
].join(", ");

const SQLITE_MINUTE = "datetime(strftime('%Y-%m-%dT%H:%M:00', timestamp))";
const PG_MINUTE = `to_char(date_trunc('minute', "timestamp"::timestamptz AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')`;

function viewStatements(d: Dialect): string[] {
  // "Latest" is the most recently inserted experiment, not the newest created_at: users can edit
  // created_at, and a leader without network time can have its clock jump.
  const hours =
    d === "sqlite"
      ? "round((strftime('%s', 'now') - strftime('%s', created_at)) / 60 / 60, 0)"
      : "round(((floor(extract(epoch FROM clock_timestamp()))::bigint - floor(extract(epoch FROM created_at::timestamptz))::bigint) / 60 / 60)::numeric, 0)::double precision";
  const order = d === "sqlite" ? "rowid" : "insertion_order";
  const minute = d === "sqlite" ? SQLITE_MINUTE : PG_MINUTE;
  const create = d === "sqlite" ? "CREATE VIEW" : "CREATE OR REPLACE VIEW";
  return [
    "DROP VIEW IF EXISTS latest_experiment",
    `${create} latest_experiment AS SELECT experiment, created_at, description, ${hours} AS delta_hours ` +
      `FROM experiments ORDER BY ${order} DESC LIMIT 1`,
    "DROP VIEW IF EXISTS pioreactor_unit_activity_data_rollup",
    `${create} pioreactor_unit_activity_data_rollup AS SELECT experiment, pioreactor_unit, ${minute} AS ${d === "pg" ? '"timestamp"' : "timestamp"}, ` +
      `${ROLLUP_AGGREGATES} FROM ${ACTIVITY} GROUP BY experiment, pioreactor_unit, ${minute}`,
  ];
}

function sqliteTriggerStatements(t: TriggerDef): string[] {
  return [
    `DROP TRIGGER IF EXISTS ${t.name}`,
    `CREATE TRIGGER ${t.name} AFTER ${t.event} ON ${t.table} FOR EACH ROW BEGIN ${t.body("sqlite")} END`,
  ];
}

/** PL/pgSQL trigger functions are named after their trigger; AFTER triggers return NULL. */
function pgTriggerStatements(name: string, event: string, table: string, body: string): string[] {
  return [
    `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} RETURN NULL; END $$`,
    `DROP TRIGGER IF EXISTS ${name} ON ${table}`,
    `CREATE TRIGGER ${name} AFTER ${event} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`,
  ];
}

const PG_CASCADE = "cascade_experiment_delete_to_streamed_tables";

function pgCascadeStatements(): string[] {
  const deletes = LEADER_TABLES.filter((t) => t.streamed)
    .map((t) => `DELETE FROM ${t.name} WHERE experiment = old.experiment;`)
    .join(" ");
  return pgTriggerStatements(PG_CASCADE, "DELETE", "experiments", deletes);
}

export async function up(knex: Knex): Promise<void> {
  const d = dialectOf(knex);
  const triggers =
    d === "sqlite"
      ? TRIGGERS.flatMap(sqliteTriggerStatements)
      : [
          ...TRIGGERS.flatMap((t) => pgTriggerStatements(t.name, t.event, t.table, t.body(d))),
          ...pgCascadeStatements(),
        ];
  await runAll(knex, [...viewStatements(d), ...triggers]);
}

export async function down(knex: Knex): Promise<void> {
  const d = dialectOf(knex);
  const statements = ["DROP VIEW IF EXISTS pioreactor_unit_activity_data_rollup", "DROP VIEW IF EXISTS latest_experiment"];
  const all = [...TRIGGERS.map((t) => ({ name: t.name, table: t.table })), { name: PG_CASCADE, table: "experiments" }];
  for (const t of all) {
    if (d === "sqlite") statements.push(`DROP TRIGGER IF EXISTS ${t.name}`);
    else statements.push(`DROP TRIGGER IF EXISTS ${t.name} ON ${t.table}`, `DROP FUNCTION IF EXISTS ${t.name}()`);
  }
  await runAll(knex, statements);
}

/** Names of the triggers this migration creates (both dialects; PostgreSQL adds the cascade one). */
export const TRIGGER_NAMES: readonly string[] = TRIGGERS.map((t) => t.name);
