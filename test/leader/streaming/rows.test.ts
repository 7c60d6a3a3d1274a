import { join } from "node:path";
import type { Knex } from "knex";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { dbTimestamp, rowForMessage, streamingRoutes, streamingSubscriptions, streamingTables, tableForTopic } from "../../../src/leader/streaming/rows";
import { pythonJsonDumpsOfJsonText } from "../../../src/leader/streaming/python-json";
import { decodeGrowthRate } from "../../../src/pubsub/structs";
import { topicMatches as topicMatchesFilter } from "../../../src/pubsub/topics";
import { formatMillisTimestamp } from "../../../src/util/python-format";
import { tempDir } from "../helpers";
import { readWireCaptures } from "../wire-captures";

const NOW = Date.UTC(2026, 10, 21, 5, 50, 0, 123);

describe("rowForMessage", () => {
  it("maps each topic to its table and columns", () => {
    expect(
      rowForMessage(
        "pioreactor/leader/exp1/od_reading/od2",
        Buffer.from('{"calibrated":0,"timestamp":"2026-11-21T05:43:58.816000Z","angle":"90","od":0.0119,"channel":"2","ir_led_intensity":80.0}'),
        NOW,
      ),
    ).toEqual({
      table: "od_readings",
      row: { experiment: "exp1", pioreactor_unit: "leader", timestamp: "2026-11-21T05:43:58.816Z", od_reading: 0.0119, angle: 90, channel: 2 },
    });
    expect(
      rowForMessage("pioreactor/u1/exp1/logs/app/warning", '{"source":"app","task":"t","message":"m","level":"warning","timestamp":"2026-01-01T00:00:00.5Z"}', NOW),
    ).toEqual({
      table: "logs",
      row: { experiment: "exp1", pioreactor_unit: "u1", timestamp: "2026-01-01T00:00:00.500Z", message: "m", task: "t", level: "WARNING", source: "app" },
    });
    expect(rowForMessage("pioreactor/u1/exp1/bioreactor/current_volume_ml", "15.0", NOW)).toEqual({
      table: "liquid_volumes",
      row: { experiment: "exp1", pioreactor_unit: "u1", timestamp: "2026-11-21T05:50:00.123Z", liquid_volume: 15 },
    });
    expect(rowForMessage("pioreactor/leader/exp1/experiment_profile/1/experiment_profile_name", "demo", NOW)).toEqual({
      table: "experiment_profile_runs",
      row: { started_at: "2026-11-21T05:50:00.123Z", experiment_profile_name: "demo", experiment: "exp1" },
    });
  });

  it("maps pwms/dc by pin (default pins 17,13,16,12,18, or the leader's map)", () => {
    expect(rowForMessage("pioreactor/u/e/pwms/dc", '{"17": 28.5, "12": 5}', NOW)).toMatchObject({
      table: "pwm_dcs",
      row: { channel_1: 28.5, channel_2: 0, channel_3: 0, channel_4: 5, channel_5: 0 },
    });
    const pins = { "1": 12, "2": 13, "3": 16, "4": 17, "5": 18 } as const;
    expect(rowForMessage("pioreactor/u/e/pwms/dc", '{"17": 28.5}', NOW, { pwmChannelPins: pins })).toMatchObject({
      row: { channel_1: 0, channel_4: 28.5 },
    });
  });

  it("stores automation events with Python's json.dumps of data, or an empty string", () => {
    expect(rowForMessage("pioreactor/u/e/dosing_automation/latest_event", '{"event_name":"DosingStarted","message":null,"data":{"waste_ml":0.5,"n":1,"tiny":2.5e-7,"t":"\u2103"}}', NOW)).toEqual({
      table: "dosing_automation_events",
      row: {
        experiment: "e",
        pioreactor_unit: "u",
        timestamp: "2026-11-21T05:50:00.123Z",
        message: null,
        data: '{"waste_ml": 0.5, "n": 1, "tiny": 2.5e-07, "t": "\\u2103"}',
        event_name: "DosingStarted",
      },
    });
    expect(rowForMessage("pioreactor/u/e/led_automation/latest_event", '{"event_name":"NoEvent","message":"hi","data":null}', NOW)).toMatchObject({
      table: "led_automation_events",
      row: { data: "", message: "hi" },
    });
    expect(pythonJsonDumpsOfJsonText('[1.0, -0, 1e3, {"a": []}]')).toBe('[1.0, 0, 1000.0, {"a": []}]');
  });

  it("skips _testing_ experiments, empty payloads and unknown topics; reports invalid payloads", () => {
    expect(rowForMessage("pioreactor/u/_testing_e/od_reading/od1", "{}", NOW)).toEqual({ skip: "testing experiment" });
    expect(rowForMessage("pioreactor/u/e/od_reading/od1", Buffer.alloc(0), NOW)).toEqual({ skip: "empty payload" });
    expect(rowForMessage("pioreactor/u/e/stirring/target_rpm", "400.0", NOW)).toEqual({ skip: "no table for this topic" });
    expect(rowForMessage("pioreactor/u/e/stirring/measured_rpm", '{"measured_rpm":-3,"timestamp":"2026-01-01T00:00:00Z"}', NOW)).toEqual({
      invalid: "measured_rpm: expected a number >= 0, got -3",
    });
    expect(rowForMessage("pioreactor/u/e/bioreactor/alt_media_fraction", "oops", NOW)).toEqual({ invalid: "payload: not valid JSON" });
  });

  it("lists the subscriptions of the original", () => {
    const subs = streamingSubscriptions();
    expect(subs).toHaveLength(28);
    expect(subs).toEqual(expect.arrayContaining(["pioreactor/+/+/logs/#", "pioreactor/+/+/od_blank/mean/+", "pioreactor/+/+/od_reading/raw_od4"]));
    expect(topicMatchesFilter("pioreactor/+/+/logs/#", "pioreactor/u/e/logs/app/info")).toBe(true);
    expect(topicMatchesFilter("pioreactor/+/+/pwms/dc", "pioreactor/u/e/pwms/dc/x")).toBe(false);
  });
});

describe("which table a topic goes to", () => {
  it("is the table of the first route whose filter matches, for every filter and near misses", () => {
    const routes = streamingRoutes();
    const topics = routes.flatMap(({ filter }) => {
      const t = filter.replace(/\+/g, "unit1").replace("#", "app/info");
      return [t, `${t}/extra`, t.replace(/\/[^/]+$/, "/other"), t.replace("pioreactor/", "pioreactorx/"), t.split("/").slice(0, 4).join("/")];
    });
    topics.push("pioreactor/u//od_reading/od1", "pioreactor//e/logs/x", "pioreactor/u/e/logs", "$SYS/u/e/logs/x", "pioreactor/u/e/logs/dosing_events");
    let routed = 0;
    for (const topic of topics) {
      const expected = routes.find((r) => topicMatchesFilter(r.filter, topic))?.table;
      expect([topic, tableForTopic(topic)]).toEqual([topic, expected]);
      if (expected !== undefined) routed += 1;
    }
    expect(routed).toBeGreaterThan(30);
    expect(tableForTopic("pioreactor/u/e/stirring/measured_rpm")).toBe("stirring_rates");
    expect(tableForTopic("pioreactor/u/e/od_blank/mean/1")).toBe("od_blanks");
  });
});

describe("wire captures → rows → migrated SQLite", () => {
  const messages = readWireCaptures();
  const itIfCaptures = messages.length > 0 ? it : it.skip;
  let tmp: ReturnType<typeof tempDir>;
  let db: Knex;

  beforeEach(async () => {
    tmp = tempDir();
    // The streaming writer runs with foreign keys off, so `$experiment` rows insert.
    db = openDatabase({ client: "sqlite", filename: join(tmp.dir, "pioreactor.sqlite"), foreignKeys: false });
    await migrateToLatest(db);
  });

  afterEach(async () => {
    await db.destroy();
    tmp.cleanup();
  });

  itIfCaptures("stores every relevant captured message and the triggers fill the activity table", async () => {
    const perTable = new Map<string, number>();
    for (const m of messages) {
      const result = rowForMessage(m.topic, Buffer.from(m.payload, "utf8"), NOW);
      expect({ topic: m.topic, payload: m.payload, invalid: "invalid" in result ? result.invalid : undefined }).toEqual({
        topic: m.topic,
        payload: m.payload,
        invalid: undefined,
      });
      if (!("table" in result)) continue;
      await db(result.table).insert(result.row);
      perTable.set(result.table, (perTable.get(result.table) ?? 0) + 1);
    }
    for (const table of ["od_readings", "stirring_rates", "growth_rates", "od_readings_filtered", "dosing_events", "logs", "pwm_dcs", "dosing_automation_events", "dosing_automation_settings", "ir_led_intensities", "liquid_volumes", "alt_media_fractions", "experiment_profile_runs"]) {
      expect({ table, stored: (perTable.get(table) ?? 0) > 0 }).toEqual({ table, stored: true });
    }
    for (const [table, n] of perTable) {
      const [{ count }] = await db(table).count("* as count");
      expect({ table, count }).toEqual({ table, count: n });
    }
    expect(streamingTables()).toEqual(expect.arrayContaining([...perTable.keys()]));

    const activity = await db("pioreactor_unit_activity_data").select();
    // Retained values replayed in several captures share a timestamp: the trigger upserts them into one row.
    const [{ n }] = await db.raw(
      "SELECT count(*) AS n FROM (SELECT DISTINCT experiment, pioreactor_unit, timestamp FROM od_readings)",
    );
    expect(activity.filter((r) => r.od_reading !== null)).toHaveLength(n);
    expect(activity.some((r) => r.measured_rpm !== null)).toBe(true);
    expect(activity.some((r) => r.growth_rate !== null && r.normalized_od_reading !== null)).toBe(true);
    expect(activity.some((r) => r.add_media_ml !== null)).toBe(true);
    expect(activity.some((r) => r.remove_waste_ml !== null)).toBe(true);
    const levels = await db("logs").distinct("level");
    expect(levels.map((l) => l.level).every((l: string) => l === l.toUpperCase())).toBe(true);
    const stamps = await db("od_readings").select("timestamp");
    expect(stamps.every((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(s.timestamp))).toBe(true);
  });
});

describe("dbTimestamp", () => {
  it("gives formatMillisTimestamp's text for every datetime form, cut or formatted", () => {
    const texts = [
      "2026-01-01T00:00:08.807000Z",
      "2026-01-01T00:00:08.807Z",
      "2026-01-01T00:00:08.807999999Z",
      "2026-01-01T00:00:08Z",
      "2026-01-01T00:00:08.8Z",
      "2026-01-01T00:00:08.80Z",
      "2026-01-01t00:00:08.807000Z",
      "2026-01-01 00:00:08.807000Z",
      "2026-01-01T00:00:08.807000z",
      "2026-01-01T00:00:08.807000+02:00",
      "2026-01-01T00:00:08.807000-00:30",
      "0999-12-31T23:59:59.999000Z",
      "1000-01-01T00:00:00.000000Z",
      "2024-02-29T12:34:56.789123Z",
    ];
    for (const text of texts) {
      const decoded = decodeGrowthRate(JSON.stringify({ growth_rate: 0.1, timestamp: text }));
      if (!decoded.ok) throw new Error(`${text}: ${decoded.error}`);
      expect([text, dbTimestamp(decoded.value.timestamp)]).toEqual([text, formatMillisTimestamp(decoded.value.timestamp.epochMs)]);
    }
  });
});
