/**
 * Chart data: the rows of one series in a time window, thinned to at most `targetPoints` by the
 * original's rule — evenly spaced target times between the first and last row, each taking the
 * first row at or after it, duplicates dropped. On SQLite the thinning runs in SQL (a recursive
 * CTE of targets, one indexed lookup each), so a long experiment never loads every row into Node.
 */
import type { Knex } from "knex";

export interface SeriesSource {
  table: string;
  column: string;
  digits: number;
  /** Series are per `unit-channel` instead of per unit. */
  byChannel: boolean;
}

/** The fixed chart sources and how they are read (web-api spec §1.7). */
export const SERIES_SOURCES: Record<string, SeriesSource> = {
  growth_rates: { table: "growth_rates", column: "rate", digits: 5, byChannel: false },
  temperature_readings: { table: "temperature_readings", column: "temperature_c", digits: 2, byChannel: false },
  od_readings_filtered: { table: "od_readings_filtered", column: "normalized_od_reading", digits: 7, byChannel: false },
  od_readings: { table: "od_readings", column: "od_reading", digits: 7, byChannel: true },
  od_readings_fused: { table: "od_readings_fused", column: "od_reading", digits: 7, byChannel: false },
  raw_od_readings: { table: "raw_od_readings", column: "od_reading", digits: 7, byChannel: true },
};

export interface Point {
  x: string;
  y: number | null;
}

export interface TimeSeries {
  series: string[];
  data: Point[][];
}

export interface Window {
  experiment: string;
  /** Exclusive lower bound and inclusive upper bound, ISO strings comparable with stored timestamps. */
  from: string;
  to: string;
  targetPoints: number;
}

function isSqlite(db: Knex): boolean {
  return db.client.config.client === "better-sqlite3" || db.client.config.client === "sqlite3";
}

/** Python's `round(v, d)` closely enough for chart values. */
export function roundTo(value: number | null, digits: number): number | null {
  if (value === null || value === undefined) return null;
  const f = 10 ** digits;
  return Math.round(Number(value) * f) / f;
}

/** The thinning rule on rows already in time order (used for PostgreSQL and as the SQL's reference). */
export function pickEvenly<T extends { timestamp: string }>(rows: T[], targetPoints: number): T[] {
  if (rows.length <= targetPoints) return rows;
  if (targetPoints === 1) return [rows[0]];
  const first = Date.parse(rows[0].timestamp);
  const last = Date.parse(rows[rows.length - 1].timestamp);
  const picked: T[] = [];
  let cursor = 0;
  for (let i = 0; i < targetPoints; i++) {
    const target = first + (i * (last - first)) / (targetPoints - 1);
    while (cursor < rows.length && Date.parse(rows[cursor].timestamp) < target) cursor++;
    if (cursor >= rows.length) break;
    if (picked[picked.length - 1] !== rows[cursor]) picked.push(rows[cursor]);
  }
  return picked;
}

interface SeriesKey {
  unit: string;
  channel?: number;
}

async function seriesKeys(db: Knex, source: SeriesSource, w: Window, unit?: string): Promise<SeriesKey[]> {
  const q = db(source.table).distinct("pioreactor_unit").where("experiment", w.experiment).orderBy("pioreactor_unit");
  if (source.byChannel) q.distinct("channel").orderBy("channel");
  if (unit !== undefined) q.where("pioreactor_unit", unit);
  const rows: Array<{ pioreactor_unit: string; channel?: number }> = await q;
  return rows.map((r) => ({ unit: r.pioreactor_unit, channel: source.byChannel ? Number(r.channel) : undefined }));
}

function rowsOf(db: Knex, source: SeriesSource, w: Window, key: SeriesKey): Knex.QueryBuilder {
  const q = db(source.table)
    .where("experiment", w.experiment)
    .andWhere("pioreactor_unit", key.unit)
    .andWhere("timestamp", ">", w.from)
    .andWhere("timestamp", "<=", w.to);
  if (key.channel !== undefined) q.andWhere("channel", key.channel);
  return q;
}

async function thinnedWithSql(db: Knex, source: SeriesSource, w: Window, key: SeriesKey, first: string, last: string): Promise<Point[]> {
  const channelClause = key.channel !== undefined ? "AND channel = ?" : "";
  const channelArgs = key.channel !== undefined ? [key.channel] : [];
  // Table and column names come from SERIES_SOURCES only, never from the request.
  const sql = `
    WITH RECURSIVE targets(i, t) AS (
      SELECT 0, julianday(?)
      UNION ALL
      SELECT i + 1, julianday(?) + (i + 1) * (julianday(?) - julianday(?)) / (? - 1) FROM targets WHERE i + 1 < ?
    ),
    picked AS (
      SELECT i, (
        SELECT rowid FROM ${source.table}
        WHERE experiment = ? AND pioreactor_unit = ? ${channelClause}
          AND timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', t) AND timestamp <= ?
        ORDER BY timestamp LIMIT 1
      ) AS row_id
      FROM targets
    ),
    first_pick AS (SELECT MIN(i) AS i, row_id FROM picked WHERE row_id IS NOT NULL GROUP BY row_id)
    SELECT s.timestamp AS x, round(s.${source.column}, ?) AS y
    FROM first_pick JOIN ${source.table} s ON s.rowid = first_pick.row_id
    ORDER BY first_pick.i`;
  const args = [first, first, last, first, w.targetPoints, w.targetPoints, w.experiment, key.unit, ...channelArgs, last, source.digits];
  return (await db.raw(sql, args)) as Point[];
}

async function oneSeries(db: Knex, source: SeriesSource, w: Window, key: SeriesKey): Promise<Point[]> {
  const stats = (await rowsOf(db, source, w, key).count({ n: "*" }).min({ first: "timestamp" }).max({ last: "timestamp" }).first()) as
    | { n: number | string; first: string; last: string }
    | undefined;
  const n = Number(stats?.n ?? 0);
  if (n === 0) return [];
  if (n <= w.targetPoints || !isSqlite(db) || w.targetPoints < 2) {
    const rows: Array<{ timestamp: string; v: number | null }> = await rowsOf(db, source, w, key)
      .orderBy("timestamp")
      .select("timestamp", { v: source.column });
    return pickEvenly(rows, w.targetPoints).map((r) => ({ x: r.timestamp, y: roundTo(r.v, source.digits) }));
  }
  return thinnedWithSql(db, source, w, key, String(stats?.first), String(stats?.last));
}

/** Every unit's (and channel's) series of `source` in the window; empty series are left out. */
export async function readSeries(db: Knex, source: SeriesSource, w: Window, unit?: string): Promise<TimeSeries> {
  const out: TimeSeries = { series: [], data: [] };
  for (const key of await seriesKeys(db, source, w, unit)) {
    const points = await oneSeries(db, source, w, key);
    if (points.length === 0) continue;
    out.series.push(key.channel !== undefined ? `${key.unit}-${key.channel}` : key.unit);
    out.data.push(points);
  }
  return out;
}

/**
 * Any table/column (chart descriptors with `data_source_column`): names reduced to
 * `[A-Za-z0-9_]`, `sqlite_*` refused; every k-th non-null row where k = ceil(n / targetPoints).
 */
export async function readColumnSeries(db: Knex, tableName: string, columnName: string, w: Window, unit?: string): Promise<TimeSeries> {
  const table = scrubIdentifier(tableName);
  const column = scrubIdentifier(columnName);
  const base = db(table).where("experiment", w.experiment).andWhere("timestamp", ">", w.from).andWhere("timestamp", "<=", w.to).whereNotNull(column);
  if (unit !== undefined) base.andWhere("pioreactor_unit", unit);
  const rows: Array<{ pioreactor_unit: string; timestamp: string; v: number }> = await base
    .orderBy([{ column: "pioreactor_unit" }, { column: "timestamp" }])
    .select("pioreactor_unit", "timestamp", { v: column });
  const byUnit = new Map<string, Array<{ timestamp: string; v: number }>>();
  for (const r of rows) byUnit.set(r.pioreactor_unit, [...(byUnit.get(r.pioreactor_unit) ?? []), r]);
  const out: TimeSeries = { series: [], data: [] };
  for (const [u, list] of byUnit) {
    const every = Math.max(1, Math.ceil(list.length / w.targetPoints));
    out.series.push(u);
    out.data.push(list.filter((_, i) => (i + 1) % every === 0).map((r) => ({ x: r.timestamp, y: roundTo(r.v, 7) })));
  }
  return out;
}

export class IdentifierError extends Error {}

export function scrubIdentifier(name: string): string {
  if (name.startsWith("sqlite_")) throw new IdentifierError(`Not allowed: ${name}`);
  const clean = name.replace(/[^A-Za-z0-9_]/g, "");
  if (clean === "") throw new IdentifierError(`Not a valid name: ${name}`);
  return clean;
}
