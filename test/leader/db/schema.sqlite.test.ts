import { join } from "node:path";
import Database from "better-sqlite3";
import type { Knex } from "knex";
import { migrateToLatest, migrationStatus } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { readMirrorFile, snapshotSqliteSchema, tempDir } from "../helpers";

/** The schema the spec (mqtt-cli-config §5.2, web-api §5) describes. */
const SPEC_TABLES = [
  "alt_media_fractions",
  "calibrations",
  "config_files_histories",
  "dosing_automation_events",
  "dosing_automation_settings",
  "dosing_events",
  "experiment_profile_runs",
  "experiment_tags",
  "experiment_worker_assignments",
  "experiment_worker_assignments_history",
  "experiments",
  "growth_rates",
  "ir_led_intensities",
  "led_automation_events",
  "led_automation_settings",
  "led_change_events",
  "liquid_volumes",
  "logs",
  "od_blanks",
  "od_readings",
  "od_readings_filtered",
  "od_readings_fused",
  "pioreactor_unit_activity_data",
  "pioreactor_unit_labels",
  "pwm_dcs",
  "raw_od_readings",
  "stirring_rates",
  "temperature_automation_events",
  "temperature_automation_settings",
  "temperature_readings",
  "workers",
];

const SPEC_TRIGGERS = [
  "delete_experiment_worker_assignments_history",
  "insert_experiment_worker_assignments_history",
  ...[
    "dosing_events",
    "growth_rates",
    "led_change_events",
    "od_readings",
    "od_readings_filtered",
    "od_readings_fused",
    "stirring_rates",
    "temperature_readings",
  ].map((t) => `update_pioreactor_unit_activity_data_from_${t}`),
];

describe("leader schema on SQLite", () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Knex;
  let file: string;

  beforeEach(async () => {
    tmp = tempDir();
    file = join(tmp.dir, "pioreactor.sqlite");
    db = openDatabase({ client: "sqlite", filename: file });
    await migrateToLatest(db);
  });

  afterEach(async () => {
    await db.destroy();
    tmp.cleanup();
  });

  function snapshot() {
    const raw = new Database(file, { readonly: true });
    try {
      return snapshotSqliteSchema(raw);
    } finally {
      raw.close();
    }
  }

  it("creates every table, trigger and view of the spec", () => {
    const s = snapshot();
    expect(Object.keys(s.tables).sort()).toEqual([...SPEC_TABLES].sort());
    expect(s.triggers.map((t) => t.name).sort()).toEqual([...SPEC_TRIGGERS].sort());
    expect(s.views.sort()).toEqual(["latest_experiment", "pioreactor_unit_activity_data_rollup"]);
  });

  it("matches the spec's column details", () => {
    const s = snapshot();
    const col = (table: string, name: string) =>
      (s.tables[table].columns as Array<{ name: string; type: string; notnull: number; dflt_value: string | null }>).find(
        (c) => c.name === name,
      );
    expect(col("od_readings", "channel")).toMatchObject({ type: "INTEGER", notnull: 1 });
    expect(col("workers", "is_active")).toMatchObject({ type: "INTEGER", notnull: 1, dflt_value: "1" });
    expect(col("calibrations", "is_current")).toMatchObject({ dflt_value: "0" });
    expect(col("dosing_automation_settings", "settings")).toMatchObject({ type: "BLOB", notnull: 1 });
    expect(col("experiments", "description")).toMatchObject({ type: "TEXT", notnull: 0 });
    const logIx = s.tables.logs.indexes.find((i) => i.name === "logs_exp_timestamp_ix");
    expect(logIx?.columns).toMatchObject([{ name: "experiment", desc: 0 }, { name: "timestamp", desc: 1 }]);
    expect(s.tables.od_readings.foreignKeys).toMatchObject([{ table: "experiments", from: "experiment", on_delete: "CASCADE" }]);
  });

  it("enforces the CHECK constraints", async () => {
    // A plain connection to the migrated file: the subject is the schema, not the query builder.
    await db.destroy();
    const raw = new Database(file);
    try {
      raw.prepare("INSERT INTO experiments (experiment, created_at) VALUES ('e', '2026-01-01T00:00:00.000Z')").run();
      const insert = (sql: string) => () => raw.prepare(sql).run();
      const base = "'e', 'u', '2026-01-01T00:00:00.000Z'";
      expect(insert(`INSERT INTO od_readings (experiment, pioreactor_unit, timestamp, od_reading, angle, channel) VALUES (${base}, 1, 90, 5)`)).toThrow(/CHECK/);
      expect(insert(`INSERT INTO led_change_events (experiment, pioreactor_unit, timestamp, channel, intensity) VALUES (${base}, 'E', 1)`)).toThrow(/CHECK/);
      expect(insert(`INSERT INTO od_blanks (experiment, pioreactor_unit, timestamp, channel, angle, od_reading) VALUES (${base}, '3', 90, 1)`)).toThrow(/CHECK/);
      // And a valid row is accepted, so the errors above are the CHECKs and nothing else.
      expect(insert(`INSERT INTO od_readings (experiment, pioreactor_unit, timestamp, od_reading, angle, channel) VALUES (${base}, 1, 90, 2)`)).not.toThrow();
    } finally {
      raw.close();
      db = openDatabase({ client: "sqlite", filename: file });
    }
  });

  it("is idempotent and reports its status", async () => {
    expect((await migrateToLatest(db)).applied).toEqual([]);
    const status = await migrationStatus(db);
    expect(status.pending).toEqual([]);
    expect(status.completed).toHaveLength(2);
  });

  it("applies the original's pragmas on each connection", async () => {
    const pragma = async (name: string) => Object.values((await db.raw(`PRAGMA ${name}`))[0])[0];
    expect(await pragma("journal_mode")).toBe("wal");
    expect(await pragma("synchronous")).toBe(1);
    expect(await pragma("temp_store")).toBe(2);
    expect(await pragma("busy_timeout")).toBe(15000);
    expect(await pragma("foreign_keys")).toBe(1);
    expect(await pragma("auto_vacuum")).toBe(2);
    expect(await pragma("cache_size")).toBe(-4000);
    const [row] = await db.raw("SELECT BASE64('eyJhIjoxfQ==') AS s");
    expect(row.s).toBe('{"a":1}');
  });

  it("fills pioreactor_unit_activity_data and the assignment history by trigger", async () => {
    await db("experiments").insert({ experiment: "e", created_at: "2026-01-01T00:00:00.000Z" });
    await db("workers").insert({ pioreactor_unit: "u", added_at: "2026-01-01T00:00:00.000Z" });
    const base = { experiment: "e", pioreactor_unit: "u", timestamp: "2026-01-01T00:00:01.000Z" };
    await db("od_readings").insert({ ...base, od_reading: 0.5, angle: 90, channel: 2 });
    await db("led_change_events").insert({ ...base, channel: "A", intensity: 10 });
    await db("led_change_events").insert({ ...base, channel: "C", intensity: 30 });
    await db("dosing_events").insert({ ...base, event: "add_media", volume_change_ml: 1 });
    await db("dosing_events").insert({ ...base, event: "remove_waste", volume_change_ml: 1.5 });
    const [row] = await db("pioreactor_unit_activity_data").select();
    expect(row).toMatchObject({
      od_reading: 0.5,
      led_a_intensity_update: 10,
      led_b_intensity_update: null,
      led_c_intensity_update: 30,
      add_media_ml: 1,
      remove_waste_ml: 1.5,
    });
    await db("experiment_worker_assignments").insert({ pioreactor_unit: "u", experiment: "e", assigned_at: "t0" });
    await db("experiment_worker_assignments").where({ pioreactor_unit: "u" }).delete();
    const [h] = await db("experiment_worker_assignments_history").select();
    expect(h).toMatchObject({ pioreactor_unit: "u", experiment: "e", assigned_at: "t0" });
    expect(h.unassigned_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("reads the views (no double-quoted literals) with latest = last inserted", async () => {
    await db("experiments").insert({ experiment: "newer", created_at: "2030-01-01T00:00:00.000Z" });
    await db("experiments").insert({ experiment: "older", created_at: "2020-01-01T00:00:00.000Z" });
    const [latest] = await db("latest_experiment").select();
    expect(latest.experiment).toBe("older");
    expect(latest.delta_hours).toBeGreaterThan(24 * 365 * 5);
    await db("growth_rates").insert({ experiment: "older", pioreactor_unit: "u", timestamp: "2026-01-01T10:00:05.000Z", rate: 1 });
    await db("growth_rates").insert({ experiment: "older", pioreactor_unit: "u", timestamp: "2026-01-01T10:00:45.000Z", rate: 3 });
    const rollup = await db("pioreactor_unit_activity_data_rollup").select();
    expect(rollup).toEqual([expect.objectContaining({ timestamp: "2026-01-01 10:00:00", avg_growth_rate: 2 })]);
  });
});

describe("leader schema compared with the original's SQL", () => {
  const createTables = readMirrorFile("packaging/shared-assets/sql/create_tables.sql");
  const createTriggers = readMirrorFile("packaging/shared-assets/sql/create_triggers.sql");
  const itIfMirror = createTables && createTriggers ? it : it.skip;

  itIfMirror("has the same tables, columns, indexes, foreign keys, triggers and views", async () => {
    const tmp = tempDir();
    try {
      // The original relies on SQLite accepting "…" as string literals; this build does not.
      const singleQuoted = (sql: string) => sql.replace(/"([^"\n]*)"/g, "'$1'");
      const originalFile = join(tmp.dir, "original.sqlite");
      const original = new Database(originalFile);
      original.exec(singleQuoted(createTables!));
      original.exec(singleQuoted(createTriggers!));
      const expected = snapshotSqliteSchema(original);
      original.close();

      const oursFile = join(tmp.dir, "ours.sqlite");
      const db = openDatabase({ client: "sqlite", filename: oursFile });
      await migrateToLatest(db);
      await db.destroy();
      const ours = new Database(oursFile, { readonly: true });
      const actual = snapshotSqliteSchema(ours);
      ours.close();

      expect(Object.keys(actual.tables).sort()).toEqual(Object.keys(expected.tables).sort());
      for (const table of Object.keys(expected.tables)) {
        expect({ table, ...actual.tables[table] }).toEqual({ table, ...expected.tables[table] });
      }
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      expect([...actual.triggers].sort(byName)).toEqual([...expected.triggers].sort(byName));
      expect(actual.views.sort()).toEqual(expected.views.sort());
    } finally {
      tmp.cleanup();
    }
  });

  itIfMirror("adopts a database the original created and repairs its double-quoted views and triggers", async () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, "from-python.sqlite");
      const original = new Database(file);
      original.exec(createTables!.replace(/"([^"\n]*)"/g, "'$1'"));
      original.exec(createTriggers!.replace(/"([^"\n]*)"/g, "'$1'"));
      original.prepare("INSERT INTO experiments (experiment, created_at) VALUES ('kept', '2026-01-01T00:00:00.000Z')").run();
      // Put the double-quoted literals back the way Python's sqlite3 stores them (DQS allowed there).
      original.unsafeMode(true);
      original.pragma("writable_schema = ON");
      const rows = original.prepare("SELECT name, sql FROM sqlite_master WHERE type IN ('view', 'trigger')").all() as Array<{
        name: string;
        sql: string;
      }>;
      for (const r of rows) {
        const dq = r.sql.replace(/'(%s|now|A|B|C|D|add_media|remove_waste|add_alt_media)'/g, '"$1"');
        original.prepare("UPDATE sqlite_master SET sql = ? WHERE name = ?").run(dq, r.name);
      }
      original.pragma("writable_schema = OFF");
      original.close();
      const broken = new Database(file);
      expect(() => broken.prepare("SELECT * FROM latest_experiment").all()).toThrow(/no such column/);
      broken.close();

      const db = openDatabase({ client: "sqlite", filename: file });
      expect((await migrateToLatest(db)).applied).toHaveLength(2);
      expect((await db("latest_experiment").select())[0].experiment).toBe("kept");
      const base = { experiment: "kept", pioreactor_unit: "u", timestamp: "2026-01-01T00:00:01.000Z" };
      await db("led_change_events").insert({ ...base, channel: "B", intensity: 5 });
      expect((await db("pioreactor_unit_activity_data").select())[0].led_b_intensity_update).toBe(5);
      await db.destroy();
    } finally {
      tmp.cleanup();
    }
  });
});
