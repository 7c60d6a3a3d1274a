/**
 * What a simulated run recorded, read back from the leader database (so the chart shows what
 * actually landed there), plus the setting changes watched on the bus during the run (turbidostat
 * and thermostat targets), which the database does not keep as a time series.
 */
import Database from "better-sqlite3";
import type { PubSubClient, Subscription } from "../pubsub/types";
import type { Clock } from "../util/clock";

export type Point = [number, number];

export interface DosingEventRow {
  t: number;
  event: string;
  ml: number;
  source: string;
}

export interface UnitData {
  unit: string;
  /** od_reading's `od` (90°, normalised to the reference), per reading. */
  od: Point[];
  /** growth_rate_calculating's `od_filtered` (normalised OD). */
  nod: Point[];
  growthRate: Point[];
  temperature: Point[];
  dosing: DosingEventRow[];
  ledChanges: Array<{ t: number; channel: string; intensity: number }>;
  volume: Point[];
}

const ts = (s: string) => Date.parse(s);

export function readUnitData(databaseFile: string, experiment: string, unit: string): UnitData {
  const db = new Database(databaseFile, { readonly: true });
  try {
    const series = (sql: string): Point[] =>
      (db.prepare(sql).raw().all(experiment, unit) as Array<[string, number]>).map(([t, v]) => [ts(t), v] as Point);
    return {
      unit,
      od: series("SELECT timestamp, od_reading FROM od_readings WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp"),
      nod: series("SELECT timestamp, normalized_od_reading FROM od_readings_filtered WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp"),
      growthRate: series("SELECT timestamp, rate FROM growth_rates WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp"),
      temperature: series("SELECT timestamp, temperature_c FROM temperature_readings WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp"),
      volume: series("SELECT timestamp, liquid_volume FROM liquid_volumes WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp"),
      dosing: (
        db
          .prepare("SELECT timestamp, event, volume_change_ml, source_of_event FROM dosing_events WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp")
          .raw()
          .all(experiment, unit) as Array<[string, string, number, string]>
      ).map(([t, event, ml, source]) => ({ t: ts(t), event, ml, source })),
      ledChanges: (
        db
          .prepare("SELECT timestamp, channel, intensity FROM led_change_events WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp")
          .raw()
          .all(experiment, unit) as Array<[string, string, number]>
      ).map(([t, channel, intensity]) => ({ t: ts(t), channel, intensity })),
    };
  } finally {
    db.close();
  }
}

/** The last value of each series and the dosing count: what a run's summary shows. */
export interface UnitFinals {
  finalNod?: number;
  finalGrowthRate?: number;
  finalTemperatureC?: number;
  dosingEvents: number;
}

export function finalsOf(data: UnitData): UnitFinals {
  return {
    finalNod: data.nod.at(-1)?.[1],
    finalGrowthRate: data.growthRate.at(-1)?.[1],
    finalTemperatureC: data.temperature.at(-1)?.[1],
    dosingEvents: data.dosing.length,
  };
}

/** The same without reading every row back (a simulated week is millions): for runs that draw no chart. */
export function readUnitFinals(databaseFile: string, experiment: string, unit: string): UnitFinals {
  const db = new Database(databaseFile, { readonly: true });
  try {
    const last = (table: string, column: string): number | undefined =>
      db.prepare(`SELECT ${column} FROM ${table} WHERE experiment=? AND pioreactor_unit=? ORDER BY timestamp DESC LIMIT 1`).pluck().get(experiment, unit) as
        | number
        | undefined;
    return {
      finalNod: last("od_readings_filtered", "normalized_od_reading"),
      finalGrowthRate: last("growth_rates", "rate"),
      finalTemperatureC: last("temperature_readings", "temperature_c"),
      dosingEvents: db.prepare("SELECT COUNT(*) FROM dosing_events WHERE experiment=? AND pioreactor_unit=?").pluck().get(experiment, unit) as number,
    };
  } finally {
    db.close();
  }
}

/** Row counts per table for the experiment (the summary's "data landed" line). */
export function tableCounts(databaseFile: string, experiment: string, tables: readonly string[]): Record<string, number> {
  const db = new Database(databaseFile, { readonly: true });
  try {
    const out: Record<string, number> = {};
    for (const t of tables) out[t] = (db.prepare(`SELECT COUNT(*) AS n FROM "${t}" WHERE experiment = ?`).get(experiment) as { n: number }).n;
    return out;
  } finally {
    db.close();
  }
}

/** Watches settings (e.g. `dosing_automation/target_biomass`) of every unit and keeps their history. */
export class SettingHistory {
  private readonly values = new Map<string, Point[]>();
  private subscription: Subscription | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly experiment: string,
    private readonly settings: ReadonlyArray<{ job: string; setting: string }>,
  ) {}

  async start(pubsub: PubSubClient): Promise<void> {
    const filters = this.settings.map((s) => `pioreactor/+/${this.experiment}/${s.job}/${s.setting}`);
    this.subscription = await pubsub.subscribe(
      filters,
      (m) => {
        const [, unit, , job, setting] = m.topic.split("/");
        const text = m.payload.toString("utf8");
        const v = Number(text);
        if (text === "" || !Number.isFinite(v)) return;
        const key = `${unit}/${job}/${setting}`;
        let list = this.values.get(key);
        if (!list) {
          list = [];
          this.values.set(key, list);
        }
        if (list.length === 0 || list[list.length - 1][1] !== v) list.push([this.clock.now(), v]);
      },
      { qos: 1 },
    );
  }

  history(unit: string, job: string, setting: string): Point[] {
    return this.values.get(`${unit}/${job}/${setting}`) ?? [];
  }

  async stop(): Promise<void> {
    await this.subscription?.unsubscribe();
  }
}

/** The latest payload of each topic under some filters (live numbers for the progress display). */
export class LatestValues {
  private readonly latest = new Map<string, string>();
  private subscription: Subscription | undefined;

  async start(pubsub: PubSubClient, filters: string[]): Promise<void> {
    this.subscription = await pubsub.subscribe(filters, (m) => this.latest.set(m.topic, m.payload.toString("utf8")), { qos: 0 });
  }

  /** A numeric field of a JSON payload (`growth_rate` of `{"growth_rate": 0.4, …}`), or the bare number. */
  number(topic: string, field?: string): number | undefined {
    const text = this.latest.get(topic);
    if (!text) return undefined;
    try {
      const v = JSON.parse(text) as unknown;
      const n = field && v && typeof v === "object" ? (v as Record<string, unknown>)[field] : v;
      return typeof n === "number" ? n : undefined;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await this.subscription?.unsubscribe();
  }
}
