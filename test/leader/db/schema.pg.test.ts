/** Runs only when PG_TEST_URL is set (e.g. postgres://postgres@127.0.0.1:5432/test). */
import type { Knex } from "knex";
import { LEADER_TABLES } from "../../../migrations/20260804000000_leader_tables_26_7_2";
import { TRIGGER_NAMES } from "../../../migrations/20260804000001_leader_views_and_triggers_26_7_2";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { describeIfPg, PG_TEST_URL, uniqueSchemaName } from "../helpers";

describeIfPg("leader schema on PostgreSQL", () => {
  const schema = uniqueSchemaName("pio_leader");
  let db: Knex;

  beforeAll(async () => {
    db = openDatabase({ client: "pg", connection: PG_TEST_URL!, searchPath: schema });
    await db.raw(`CREATE SCHEMA ${schema}`);
    await migrateToLatest(db);
  });

  afterAll(async () => {
    await db.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.destroy();
  });

  it("creates the same tables and columns as on SQLite, and the triggers", async () => {
    const cols = await db("information_schema.columns")
      .where({ table_schema: schema })
      .select("table_name", "column_name", "is_nullable", "ordinal_position")
      .orderBy(["table_name", "ordinal_position"]);
    for (const t of LEADER_TABLES) {
      const actual = cols.filter((c) => c.table_name === t.name && c.column_name !== "insertion_order");
      expect({ table: t.name, columns: actual.map((c) => [c.column_name, c.is_nullable === "NO"]) }).toEqual({
        table: t.name,
        columns: t.columns.map((c) => [c.name, Boolean(c.notNull)]),
      });
    }
    const triggers = await db("information_schema.triggers").where({ trigger_schema: schema }).distinct("trigger_name");
    expect(triggers.map((t) => t.trigger_name).sort()).toEqual(
      [...TRIGGER_NAMES, "cascade_experiment_delete_to_streamed_tables"].sort(),
    );
    expect((await migrateToLatest(db)).applied).toEqual([]);
  });

  it("behaves like the SQLite schema: triggers, views, checks, cascade", async () => {
    await db("experiments").insert({ experiment: "newer", created_at: "2030-01-01T00:00:00.000Z" });
    await db("experiments").insert({ experiment: "e", created_at: "2020-01-01T00:00:00.000Z" });
    await db("workers").insert({ pioreactor_unit: "u", added_at: "2026-01-01T00:00:00.000Z" });
    const base = { experiment: "e", pioreactor_unit: "u", timestamp: "2026-01-01T10:00:05.000Z" };
    await db("od_readings").insert({ ...base, od_reading: 0.5, angle: 90, channel: 2 });
    await db("led_change_events").insert({ ...base, channel: "A", intensity: 10 });
    await db("led_change_events").insert({ ...base, channel: "C", intensity: 30 });
    await db("dosing_events").insert({ ...base, event: "add_media", volume_change_ml: 1 });
    await db("growth_rates").insert({ ...base, timestamp: "2026-01-01T10:00:45.000Z", rate: 3 });
    // Rows for `$experiment` land although no such experiment exists (the streaming writer relies on it).
    await db("logs").insert({ ...base, experiment: "$experiment", message: "m", source: "app", level: "INFO", task: "t" });

    const [activity] = await db("pioreactor_unit_activity_data").where({ timestamp: base.timestamp }).select();
    expect(activity).toMatchObject({ od_reading: 0.5, led_a_intensity_update: 10, led_c_intensity_update: 30, add_media_ml: 1 });
    const [latest] = await db("latest_experiment").select();
    expect(latest.experiment).toBe("e");
    expect(latest.delta_hours).toBeGreaterThan(24 * 365 * 5);
    const rollup = await db("pioreactor_unit_activity_data_rollup").where({ experiment: "e" }).select();
    expect(rollup).toEqual([expect.objectContaining({ timestamp: "2026-01-01 10:00:00", avg_growth_rate: 3, sum_add_media_ml: 1 })]);

    await expect(db("od_readings").insert({ ...base, od_reading: 1, angle: 90, channel: 7 })).rejects.toThrow(/check/i);

    await db("experiment_worker_assignments").insert({ pioreactor_unit: "u", experiment: "e", assigned_at: "t0" });
    await db("experiment_worker_assignments").where({ pioreactor_unit: "u" }).delete();
    const [h] = await db("experiment_worker_assignments_history").select();
    expect(h.unassigned_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    await db("experiments").where({ experiment: "e" }).delete();
    expect(await db("od_readings").where({ experiment: "e" }).count("* as n")).toEqual([{ n: "0" }]);
    expect(await db("pioreactor_unit_activity_data").where({ experiment: "e" }).count("* as n")).toEqual([{ n: "0" }]);
    expect(await db("logs").count("* as n")).toEqual([{ n: "1" }]);
  });
});
