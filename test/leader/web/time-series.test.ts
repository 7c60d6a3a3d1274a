/**
 * The chart thinning on SQLite (index seeks, JSON built by SQLite) against the same rule applied
 * row by row in Node, on a migrated database with gaps, several units and channels.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Knex } from "knex";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { readSeriesInNode, readSeriesJson, SERIES_SOURCES, SeriesStatements, thinningTargets, type Window } from "../../../src/leader/web/time-series";

const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

let dir: string;
let db: Knex;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-ts-"));
  db = openDatabase({ client: "sqlite", filename: path.join(dir, "db.sqlite") });
  await migrateToLatest(db);
  await db("experiments").insert([
    { experiment: "e", created_at: iso(T0) },
    { experiment: "other", created_at: iso(T0) },
  ]);
  const od: Array<Record<string, string | number>> = [];
  const growth: Array<Record<string, string | number>> = [];
  for (const unit of ["u2", "u1", "u3"]) {
    for (let i = 0; i < 3000; i++) {
      // A 6-hour gap in the middle: consecutive targets there pick the same row.
      const t = T0 + i * 5000 + (i > 1500 ? 6 * 3600_000 : 0) + (unit === "u3" ? 777 : 0);
      if (unit !== "u3") od.push({ experiment: "e", pioreactor_unit: unit, timestamp: iso(t), od_reading: (i % 997) / 1e4, angle: 90, channel: 1 });
      if (unit === "u1" && i % 2 === 0) od.push({ experiment: "e", pioreactor_unit: unit, timestamp: iso(t + 1), od_reading: i / 1e5, angle: 90, channel: 2 });
      growth.push({ experiment: "e", pioreactor_unit: unit, timestamp: iso(t), rate: (i % 13) / 100 });
    }
  }
  od.push({ experiment: "other", pioreactor_unit: "u9", timestamp: iso(T0), od_reading: 1, angle: 90, channel: 1 });
  for (let i = 0; i < od.length; i += 500) await db("od_readings").insert(od.slice(i, i + 500));
  for (let i = 0; i < growth.length; i += 500) await db("growth_rates").insert(growth.slice(i, i + 500));
});

afterAll(async () => {
  await db.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

const window = (targetPoints: number, fromMs = T0 - 1, toMs = T0 + 86_400_000): Window => ({ experiment: "e", from: iso(fromMs), to: iso(toMs), targetPoints });

describe("time series on SQLite", () => {
  test.each([1, 2, 7, 1400, 2999, 3000, 5000])("od_readings and growth_rates with target_points=%i match the rule applied in Node", async (n) => {
    for (const source of [SERIES_SOURCES.od_readings, SERIES_SOURCES.growth_rates]) {
      const viaSql = JSON.parse(await readSeriesJson(db, source, window(n)));
      const inNode = await readSeriesInNode(db, source, window(n));
      expect(viaSql).toEqual(inNode);
    }
  });

  test("series are per unit-channel, sorted, empty ones left out; the thinned series keep the ends and drop repeats", async () => {
    const out = JSON.parse(await readSeriesJson(db, SERIES_SOURCES.od_readings, window(100)));
    expect(out.series).toEqual(["u1-1", "u1-2", "u2-1"]);
    const points: Array<{ x: string; y: number }> = out.data[0];
    expect(points[0].x).toBe(iso(T0));
    expect(points[points.length - 1].x).toBe(iso(T0 + 2999 * 5000 + 6 * 3600_000));
    // The gap makes several targets land on the first row after it: fewer than 100 points.
    expect(points.length).toBeLessThan(100);
    expect(new Set(points.map((p) => p.x)).size).toBe(points.length);
    expect(points.map((p) => p.x)).toEqual([...points.map((p) => p.x)].sort());
  });

  test("the window is (from, to]; one unit; one point is the latest row", async () => {
    const from = T0 + 10 * 5000;
    const to = T0 + 20 * 5000;
    const out = JSON.parse(await readSeriesJson(db, SERIES_SOURCES.growth_rates, window(1000, from, to), "u2"));
    expect(out.series).toEqual(["u2"]);
    expect(out.data[0].map((p: { x: string }) => p.x)).toEqual(Array.from({ length: 10 }, (_, k) => iso(from + (k + 1) * 5000)));
    const one = JSON.parse(await readSeriesJson(db, SERIES_SOURCES.growth_rates, window(1, from, to), "u2"));
    expect(one.data).toEqual([[{ x: iso(to), y: 0.07 }]]);
  });

  test("nothing in the window, or an unknown unit: empty lists", async () => {
    expect(await readSeriesJson(db, SERIES_SOURCES.growth_rates, window(10, T0 - 10_000, T0 - 1))).toBe('{"series":[],"data":[]}');
    expect(await readSeriesJson(db, SERIES_SOURCES.od_readings, window(10), "nobody")).toBe('{"series":[],"data":[]}');
  });

  test("statements kept prepared between calls (as the route keeps them) give the same answers, windows and units", async () => {
    const statements = new SeriesStatements();
    for (const n of [1, 7, 1400, 5000]) {
      for (const source of [SERIES_SOURCES.od_readings, SERIES_SOURCES.growth_rates]) {
        const fresh = await readSeriesJson(db, source, window(n));
        expect(await readSeriesJson(db, source, window(n), undefined, statements)).toBe(fresh);
        expect(await readSeriesJson(db, source, window(n), undefined, statements)).toBe(fresh);
        expect(await readSeriesJson(db, source, window(n), "u1", statements)).toBe(await readSeriesJson(db, source, window(n), "u1"));
      }
    }
    const narrow = window(5, T0 + 100 * 5000, T0 + 200 * 5000);
    expect(JSON.parse(await readSeriesJson(db, SERIES_SOURCES.growth_rates, narrow, undefined, statements))).toEqual(
      await readSeriesInNode(db, SERIES_SOURCES.growth_rates, narrow),
    );
  });

  test("values are rounded as the source says and printed as REALs", async () => {
    const text = await readSeriesJson(db, SERIES_SOURCES.growth_rates, window(3000, T0 - 1, T0 + 1), "u1");
    expect(text).toBe(`{"series":["u1"],"data":[[{"x":"${iso(T0)}","y":0.0}]]}`);
  });
});

describe("thinningTargets", () => {
  test("equal SQLite's strftime of evenly spaced julian days, to the millisecond", () => {
    const sqlite = new Database(":memory:");
    const stmt = sqlite.prepare("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', julianday(?) + (julianday(?) - julianday(?)) * ? / (? - 1)) AS t");
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run = 0; run < 200; run++) {
      const first = iso(Date.UTC(2020, 0, 1) + Math.floor(random() * 2e11));
      const last = iso(Date.parse(first) + Math.floor(random() * 3e9));
      const n = 2 + Math.floor(random() * 1500);
      const targets = thinningTargets(first, last, n);
      expect(targets).toHaveLength(n);
      expect(targets[0]).toBe(first);
      expect(targets[n - 1]).toBe(last);
      for (let k = 1; k < n - 1; k += 37) {
        expect(targets[k]).toBe((stmt.get(first, last, first, k, n) as { t: string }).t);
      }
    }
    sqlite.close();
  });
});
