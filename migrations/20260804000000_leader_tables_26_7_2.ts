/**
 * The leader database as the original has it at 26.7.2 (installer schema plus every update
 * script up to 26.7.2): the same tables, columns, declared types, NOT NULLs, defaults, CHECKs,
 * UNIQUE/PRIMARY KEY constraints, foreign keys and indexes, so the Python web server, exports
 * and a database created by the original all work with ours and the other way round.
 *
 * `IF NOT EXISTS` everywhere lets this migration adopt a database the original created.
 */
import type { Knex } from "knex";
import { type ColumnDef, dialectOf, type IndexDef, runAll, type TableDef, tableStatements } from "./support/ddl";

const EXPERIMENT_FK = { columns: ["experiment"], refTable: "experiments", refColumns: ["experiment"] };

/** Every time-series and event table starts with these three columns. */
const EUT: ColumnDef[] = [
  { name: "experiment", type: "TEXT", notNull: true },
  { name: "pioreactor_unit", type: "TEXT", notNull: true },
  { name: "timestamp", type: "TEXT", notNull: true },
];

function real(name: string, notNull = true): ColumnDef {
  return { name, type: "REAL", notNull };
}

function text(name: string, notNull = true): ColumnDef {
  return { name, type: "TEXT", notNull };
}

/** A table written by the streaming job: E, U, T, then its own columns, then the experiment FK. */
function streamed(name: string, columns: ColumnDef[], indexes: IndexDef[]): TableDef {
  return { name, columns: [...EUT, ...columns], foreignKeys: [EXPERIMENT_FK], indexes, streamed: true };
}

function ix(name: string, ...columns: IndexDef["columns"]): IndexDef {
  return { name, columns };
}

const PD_CHANNEL: ColumnDef = { name: "channel", type: "INTEGER", notNull: true, check: "channel IN (1, 2, 3, 4)" };

const automationEvents = (prefix: string): TableDef =>
  streamed(
    `${prefix}_automation_events`,
    [text("event_name"), text("message", false), text("data", false)],
    [ix(`${prefix}_automation_events_ix`, "experiment", "pioreactor_unit")],
  );

const automationSettings = (prefix: string): TableDef => ({
  name: `${prefix}_automation_settings`,
  columns: [
    text("experiment"),
    text("pioreactor_unit"),
    text("started_at"),
    text("ended_at", false),
    text("automation_name"),
    { name: "settings", type: "BLOB", notNull: true },
  ],
  foreignKeys: [EXPERIMENT_FK],
  indexes: [ix(`${prefix}_automation_settings_ix`, "experiment", "pioreactor_unit")],
  streamed: true,
});

/** Referenced tables first: PostgreSQL checks a foreign key's target when the table is created. */
export const LEADER_TABLES: readonly TableDef[] = [
  {
    name: "experiments",
    columns: [{ name: "experiment", type: "TEXT", notNull: true, unique: true }, text("created_at"), text("description", false)],
    // The original's note: the UI's "latest experiment" queries read every column, so the index covers them all.
    indexes: [{ name: "experiments_ix", columns: ["created_at", "experiment", "description"], unique: true }],
  },
  {
    name: "workers",
    columns: [
      text("pioreactor_unit"),
      text("added_at"),
      text("model_name", false),
      text("model_version", false),
      { name: "is_active", type: "INTEGER", notNull: true, default: "1" },
    ],
    unique: [["pioreactor_unit"]],
  },
  streamed("od_readings", [real("od_reading"), { name: "angle", type: "INTEGER", notNull: true }, PD_CHANNEL], [
    ix("od_readings_ix", "experiment", "pioreactor_unit", "channel", "timestamp"),
  ]),
  streamed("raw_od_readings", [real("od_reading"), PD_CHANNEL], [
    ix("raw_od_readings_ix", "experiment", "pioreactor_unit", "channel", "timestamp"),
  ]),
  {
    name: "experiment_tags",
    columns: [text("experiment"), text("tag"), text("created_at")],
    primaryKey: ["experiment", "tag"],
    foreignKeys: [EXPERIMENT_FK],
    indexes: [ix("experiment_tags_experiment_created_at_tag_ix", "experiment", "created_at", "tag")],
  },
  streamed("od_readings_fused", [real("od_reading")], [
    ix("od_readings_fused_ix", "experiment", "pioreactor_unit", "timestamp"),
  ]),
  streamed("alt_media_fractions", [real("alt_media_fraction")], [ix("alt_media_fractions_ix", "experiment")]),
  streamed("liquid_volumes", [real("liquid_volume")], [ix("liquid_volumes_ix", "experiment")]),
  streamed("od_readings_filtered", [real("normalized_od_reading")], [
    ix("od_readings_filtered_ix", "experiment", "pioreactor_unit", "timestamp"),
  ]),
  streamed("dosing_events", [text("event"), real("volume_change_ml"), text("source_of_event", false)], [
    ix("dosing_events_ix", "experiment", "pioreactor_unit"),
  ]),
  streamed(
    "led_change_events",
    [
      { name: "channel", type: "TEXT", notNull: true, check: "channel IN ('A', 'B', 'C', 'D')" },
      real("intensity"),
      text("source_of_event", false),
    ],
    [ix("led_change_events_ix", "experiment", "pioreactor_unit")],
  ),
  streamed("growth_rates", [real("rate")], [ix("growth_rates_ix", "experiment", "pioreactor_unit", "timestamp")]),
  streamed("logs", [text("message"), text("source"), text("level", false), text("task", false)], [
    ix("logs_exp_timestamp_ix", "experiment", { name: "timestamp", desc: true }),
    ix("logs_exp_level_timestamp_ix", "experiment", "level", { name: "timestamp", desc: true }),
    ix("logs_unit_timestamp_ix", "pioreactor_unit", { name: "timestamp", desc: true }),
    ix("idx_logs_level_timestamp_desc", "level", { name: "timestamp", desc: true }),
  ]),
  automationSettings("dosing"),
  automationSettings("led"),
  automationSettings("temperature"),
  streamed("temperature_readings", [real("temperature_c")], [
    ix("temperature_readings_ix", "experiment", "pioreactor_unit", "timestamp"),
  ]),
  streamed("stirring_rates", [real("measured_rpm")], [ix("stirring_rates_ix", "experiment", "pioreactor_unit")]),
  {
    name: "config_files_histories",
    columns: [text("timestamp"), text("filename"), text("data")],
    indexes: [ix("config_files_histories_ix", "filename")],
  },
  streamed(
    "od_blanks",
    [
      { name: "channel", type: "TEXT", notNull: true, check: "channel IN ('1', '2')" },
      { name: "angle", type: "INTEGER", notNull: true },
      real("od_reading"),
    ],
    [ix("od_blanks_ix", "experiment", "pioreactor_unit", "timestamp")],
  ),
  streamed("ir_led_intensities", [real("relative_intensity")], [
    ix("ir_led_intensities_ix", "experiment", "pioreactor_unit"),
  ]),
  {
    name: "pioreactor_unit_labels",
    columns: [text("experiment"), text("pioreactor_unit"), text("label"), text("created_at")],
    unique: [
      ["pioreactor_unit", "experiment"],
      ["label", "experiment"],
    ],
    foreignKeys: [EXPERIMENT_FK],
    indexes: [ix("pioreactor_unit_labels_ix", "experiment", "pioreactor_unit")],
  },
  automationEvents("temperature"),
  automationEvents("dosing"),
  automationEvents("led"),
  {
    ...streamed(
      "pioreactor_unit_activity_data",
      [
        "od_reading",
        "od_fused",
        "normalized_od_reading",
        "temperature_c",
        "growth_rate",
        "measured_rpm",
        "led_a_intensity_update",
        "led_b_intensity_update",
        "led_c_intensity_update",
        "led_d_intensity_update",
        "add_media_ml",
        "remove_waste_ml",
        "add_alt_media_ml",
      ].map((c) => real(c, false)),
      // The triggers' ON CONFLICT targets exactly this unique index.
      [{ name: "pioreactor_unit_activity_data_ix", columns: ["experiment", "pioreactor_unit", "timestamp"], unique: true }],
    ),
  },
  {
    name: "calibrations",
    columns: [
      text("pioreactor_unit"),
      text("created_at"),
      text("type"),
      text("data"),
      text("name"),
      { name: "is_current", type: "INTEGER", notNull: true, default: "0" },
      text("set_to_current_at", false),
    ],
    unique: [["pioreactor_unit", "type", "name"]],
    indexes: [{ name: "calibrations_ix", columns: ["pioreactor_unit", "type", "name"], unique: true }],
  },
  streamed(
    "pwm_dcs",
    ["channel_1", "channel_2", "channel_3", "channel_4", "channel_5"].map((c) => real(c, false)),
    [ix("pwm_dcs_ix", "experiment", "pioreactor_unit")],
  ),
  {
    name: "experiment_profile_runs",
    columns: [text("started_at"), text("experiment_profile_name"), text("experiment", false)],
    foreignKeys: [EXPERIMENT_FK],
    indexes: [ix("experiment_profile_runs_ix", "experiment")],
    streamed: true,
  },
  {
    name: "experiment_worker_assignments",
    columns: [text("pioreactor_unit"), text("experiment"), text("assigned_at")],
    // A worker is in at most one experiment at a time.
    unique: [["pioreactor_unit"]],
    foreignKeys: [
      { columns: ["pioreactor_unit"], refTable: "workers", refColumns: ["pioreactor_unit"] },
      EXPERIMENT_FK,
    ],
    indexes: [ix("experiment_worker_assignments_experiment_ix", "experiment")],
  },
  {
    name: "experiment_worker_assignments_history",
    columns: [text("pioreactor_unit"), text("experiment"), text("assigned_at"), text("unassigned_at", false)],
    unique: [["pioreactor_unit", "experiment", "assigned_at"]],
    indexes: [
      ix(
        "experiment_worker_assignments_history_ix",
        "experiment",
        "pioreactor_unit",
        "assigned_at",
        "unassigned_at",
      ),
    ],
  },
];

/**
 * PostgreSQL has no rowid; `latest_experiment` means "most recently inserted", so experiments
 * get an identity column there to order by.
 */
const PG_EXPERIMENTS_INSERTION_ORDER =
  "ALTER TABLE experiments ADD COLUMN IF NOT EXISTS insertion_order bigint GENERATED ALWAYS AS IDENTITY";

export async function up(knex: Knex): Promise<void> {
  const dialect = dialectOf(knex);
  await runAll(
    knex,
    LEADER_TABLES.flatMap((t) => tableStatements(t, dialect)),
  );
  if (dialect === "pg") await knex.raw(PG_EXPERIMENTS_INSERTION_ORDER);
}

export async function down(knex: Knex): Promise<void> {
  // Reverse order so referencing tables go before the tables they reference.
  for (const t of [...LEADER_TABLES].reverse()) await knex.raw(`DROP TABLE IF EXISTS ${t.name}`);
}
