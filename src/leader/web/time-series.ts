/**
 * Chart data: the rows of one series in a time window, thinned to at most `targetPoints` by the
 * original's rule — evenly spaced target times (in julian days) between the first and last row,
 * each taking the first row at or after it, duplicates dropped. On SQLite the thinning runs in
 * SQL, one index seek per target, and SQLite writes the points' JSON itself, so a long experiment
 * never loads its rows into Node (2 million rows: ≈ 1.1 s per call before, see BENCHMARKS.md).
 */
import type BetterSqlite3 from "better-sqlite3";
import type { Knex } from "knex";

type SqliteConnection = BetterSqlite3.Database;

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

/** The SQLite path works on the pool's connection itself, which must be better-sqlite3's (openDatabase's client). */
function isBetterSqlite(db: Knex): boolean {
  return db.client.config.client === "better-sqlite3";
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
  // One point: the latest, as the original answers.
  if (targetPoints === 1) return [rows[rows.length - 1]];
  const picked: T[] = [];
  let cursor = 0;
  for (const target of thinningTargets(rows[0].timestamp, rows[rows.length - 1].timestamp, targetPoints)) {
    while (cursor < rows.length && rows[cursor].timestamp < target) cursor++;
    if (cursor >= rows.length) break;
    if (picked[picked.length - 1] !== rows[cursor]) picked.push(rows[cursor]);
  }
  return picked;
}

interface SeriesKey {
  unit: string;
  channel?: number;
}

/** `od_readings` and `raw_od_readings` keep one series per channel; the schema allows 1–4. */
const CHANNELS = [1, 2, 3, 4];

// ---------------------------------------------------------------- SQLite: bounded index work

/**
 * On SQLite every query below is a seek on the source's own index (`<table>_ix`, which the
 * original's schema has): the units by skip-scan, at most `targetPoints + 1` index entries to learn
 * whether to thin plus the first and last timestamps (one statement), then one seek per target. A
 * call therefore costs about `series × targetPoints` seeks however long the experiment is;
 * counting the window's rows, as a first version did, read every index entry of it (≈ 1 s for 2
 * million rows).
 */
function sqliteUnits(conn: SqliteConnection, statements: SeriesStatements, source: SeriesSource, experiment: string): string[] {
  const rows = statements
    .on(
      conn,
      `WITH RECURSIVE units(name) AS (
       SELECT MIN(pioreactor_unit) FROM ${source.table} WHERE experiment = @experiment
       UNION ALL
       SELECT (SELECT MIN(pioreactor_unit) FROM ${source.table} WHERE experiment = @experiment AND pioreactor_unit > units.name)
       FROM units WHERE name IS NOT NULL
     )
     SELECT name FROM units WHERE name IS NOT NULL`,
    )
    .all({ experiment }) as Array<{ name: string }>;
  return rows.map((r) => r.name);
}

/** The WHERE clause (after `FROM <table> AS <alias>`) selecting one series in the window, by named parameters. */
function seriesFilter(source: SeriesSource, alias: string): string {
  return `${alias}.experiment = @experiment AND ${alias}.pioreactor_unit = @unit${source.byChannel ? ` AND ${alias}.channel = @channel` : ""} AND ${alias}.timestamp > @from AND ${alias}.timestamp <= @to`;
}

/** Julian day 0 in Unix milliseconds: SQLite's `julianday()` counts from there. */
const JULIAN_EPOCH_UNIX_MS = -210_866_760_000_000;
const MS_PER_DAY = 86_400_000;

/**
 * The thinning targets exactly as SQLite computes `strftime('%Y-%m-%dT%H:%M:%fZ', julianday(first)
 * + (julianday(last) - julianday(first)) * k / (n - 1))`: the same double arithmetic on julian
 * days, then SQLite's rounding to whole milliseconds (`(int64)(r * 86400000 + 0.5)`). The first
 * and last targets are the first and last timestamps themselves. Computing them here and handing
 * them over as one JSON array is about three times cheaper than SQLite's date functions.
 */
export function thinningTargets(first: string, last: string, n: number): string[] {
  const firstDay = (Date.parse(first) - JULIAN_EPOCH_UNIX_MS) / MS_PER_DAY;
  const lastDay = (Date.parse(last) - JULIAN_EPOCH_UNIX_MS) / MS_PER_DAY;
  const format = new IsoMillisFormatter();
  const targets = [first];
  for (let k = 1; k < n - 1; k++) {
    const day = firstDay + ((lastDay - firstDay) * k) / (n - 1);
    targets.push(format.at(Math.floor(day * MS_PER_DAY + 0.5) + JULIAN_EPOCH_UNIX_MS));
  }
  if (n > 1) targets.push(last);
  return targets;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/** `Date#toISOString` for increasing instants, reusing the date part (a call per target adds up). */
class IsoMillisFormatter {
  private dayStart = Number.NaN;
  private datePart = "";

  at(ms: number): string {
    let inDay = ms - this.dayStart;
    if (!(inDay >= 0 && inDay < MS_PER_DAY)) {
      this.dayStart = Math.floor(ms / MS_PER_DAY) * MS_PER_DAY;
      this.datePart = new Date(this.dayStart).toISOString().slice(0, 11);
      inDay = ms - this.dayStart;
    }
    const h = Math.floor(inDay / 3_600_000);
    const m = Math.floor((inDay % 3_600_000) / 60_000);
    const sec = Math.floor((inDay % 60_000) / 1000);
    return `${this.datePart}${pad2(h)}:${pad2(m)}:${pad2(sec)}.${pad3(inDay % 1000)}Z`;
  }
}

/**
 * One series' points as a JSON array text (`[{"x":…,"y":…},…]`), or null when the window holds no
 * row. SQLite prints REALs as the original's msgspec does for these rounded values (`30.0`, not
 * `30`), and building the text there saves creating 1,400 objects per series and serialising them.
 */
function sqliteSeriesJson(conn: SqliteConnection, statements: SeriesStatements, source: SeriesSource, w: Window, key: SeriesKey): string | null {
  const { table } = source;
  const where = seriesFilter(source, "s");
  const params: Record<string, string | number> = { experiment: w.experiment, unit: key.unit, from: w.from, to: w.to };
  if (key.channel !== undefined) params.channel = key.channel;
  const y = `round(s.${source.column}, ${source.digits})`;
  const asJson = (rowsSql: string) => `SELECT json_group_array(json_object('x', x, 'y', y)) AS points FROM (${rowsSql})`;
  const points = (sql: string, extra: Record<string, string> = {}) => String((statements.on(conn, asJson(sql)).get({ ...params, ...extra }) as { points: string }).points);
  // Whether there is more than one chart's worth (at most targetPoints + 1 index entries), and the
  // ends, in one statement: each subquery reads the index alone.
  const bounds = statements
    .on(
      conn,
      `SELECT (SELECT count(*) FROM (SELECT 1 FROM ${table} AS s WHERE ${where} ORDER BY s.timestamp, s.rowid LIMIT @probe)) AS n,
              (SELECT s.timestamp FROM ${table} AS s WHERE ${where} ORDER BY s.timestamp, s.rowid LIMIT 1) AS first,
              (SELECT s.timestamp FROM ${table} AS s WHERE ${where} ORDER BY s.timestamp DESC, s.rowid DESC LIMIT 1) AS last`,
    )
    .get({ ...params, probe: w.targetPoints + 1 }) as { n: number; first: string | null; last: string | null };
  if (bounds.n === 0 || bounds.first === null || bounds.last === null) return null;
  const rowsInOrder = `SELECT s.timestamp AS x, ${y} AS y FROM ${table} AS s WHERE ${where} ORDER BY s.timestamp, s.rowid`;
  if (bounds.n <= w.targetPoints) return points(rowsInOrder);
  // One point: the latest, as the original answers.
  if (w.targetPoints === 1) return points(`SELECT s.timestamp AS x, ${y} AS y FROM ${table} AS s WHERE ${where} ORDER BY s.timestamp DESC, s.rowid DESC LIMIT 1`);
  // For each target (in order) the first row at or after it, up to the last row, as its point's
  // JSON text: one seek and one row read per target, no sort. Consecutive targets in a gap pick the
  // same row, which is kept once. Comparing the texts is comparing the rows: among rows sharing a
  // timestamp only the first (by rowid) can be picked, so two picked rows never print the same.
  const atOrAfterTarget = seriesFilter(source, "r").replace("r.timestamp > @from", "r.timestamp >= target.value").replace("@to", "@last");
  const thinned = statements
    .on(
      conn,
      `SELECT (SELECT json_object('x', r.timestamp, 'y', round(r.${source.column}, ${source.digits})) FROM ${table} AS r WHERE ${atOrAfterTarget} ORDER BY r.timestamp, r.rowid LIMIT 1)
       FROM json_each(@targets) AS target ORDER BY target.key`,
    )
    .pluck();
  const picks = thinned.all({ ...params, last: bounds.last, targets: JSON.stringify(thinningTargets(bounds.first, bounds.last, w.targetPoints)) }) as Array<string | null>;
  const kept: string[] = [];
  for (const point of picks) {
    if (point !== null && point !== kept[kept.length - 1]) kept.push(point);
  }
  return `[${kept.join(",")}]`;
}

/**
 * The `TimeSeries` JSON text of every unit's (and channel's) series in the window. It runs on the
 * pool's better-sqlite3 connection itself, with statements prepared once per connection: through
 * knex every one of the ~20 queries of a call was prepared again and its bindings rewritten.
 */
async function readSeriesSqliteJson(db: Knex, statements: SeriesStatements, source: SeriesSource, w: Window, unit?: string): Promise<string> {
  const conn = (await db.client.acquireConnection()) as SqliteConnection;
  try {
    const names: string[] = [];
    const data: string[] = [];
    const units = unit !== undefined ? [unit] : sqliteUnits(conn, statements, source, w.experiment);
    for (const u of units) {
      for (const channel of source.byChannel ? CHANNELS : [undefined]) {
        const points = sqliteSeriesJson(conn, statements, source, w, { unit: u, channel });
        if (points === null) continue;
        names.push(channel !== undefined ? `${u}-${channel}` : u);
        data.push(points);
      }
    }
    return `{"series":${JSON.stringify(names)},"data":[${data.join(",")}]}`;
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/**
 * Prepared chart statements per SQLite connection (connections come and go with knex's pool, so
 * they are weakly held). One instance lives as long as the web app; a call without one prepares
 * each statement once for that call.
 */
export class SeriesStatements {
  private readonly byConnection = new WeakMap<SqliteConnection, Map<string, BetterSqlite3.Statement>>();

  on(conn: SqliteConnection, sql: string): BetterSqlite3.Statement {
    let cache = this.byConnection.get(conn);
    if (cache === undefined) {
      cache = new Map();
      this.byConnection.set(conn, cache);
    }
    let stmt = cache.get(sql);
    if (stmt === undefined) {
      stmt = conn.prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  }
}

// ---------------------------------------------------------------- other databases: thinning in Node

async function seriesKeys(db: Knex, source: SeriesSource, w: Window, unit?: string): Promise<SeriesKey[]> {
  const q = db(source.table).distinct("pioreactor_unit").where("experiment", w.experiment).orderBy("pioreactor_unit");
  if (source.byChannel) q.distinct("channel").orderBy("channel");
  if (unit !== undefined) q.where("pioreactor_unit", unit);
  const rows: Array<{ pioreactor_unit: string; channel?: number }> = await q;
  return rows.map((r) => ({ unit: r.pioreactor_unit, channel: source.byChannel ? Number(r.channel) : undefined }));
}

async function oneSeries(db: Knex, source: SeriesSource, w: Window, key: SeriesKey): Promise<Point[]> {
  const q = db(source.table)
    .where("experiment", w.experiment)
    .andWhere("pioreactor_unit", key.unit)
    .andWhere("timestamp", ">", w.from)
    .andWhere("timestamp", "<=", w.to);
  if (key.channel !== undefined) q.andWhere("channel", key.channel);
  const rows: Array<{ timestamp: string; v: number | null }> = await q.orderBy("timestamp").select("timestamp", { v: source.column });
  return pickEvenly(rows, w.targetPoints).map((r) => ({ x: r.timestamp, y: roundTo(r.v, source.digits) }));
}

/**
 * Every unit's (and channel's) series of `source` in the window as `TimeSeries` JSON text; empty
 * series are left out.
 */
export async function readSeriesJson(
  db: Knex,
  source: SeriesSource,
  w: Window,
  unit?: string,
  statements: SeriesStatements = new SeriesStatements(),
): Promise<string> {
  if (isBetterSqlite(db)) return readSeriesSqliteJson(db, statements, source, w, unit);
  return JSON.stringify(await readSeriesInNode(db, source, w, unit));
}

/** The same series read row by row and thinned in Node (any database; PostgreSQL uses it). */
export async function readSeriesInNode(db: Knex, source: SeriesSource, w: Window, unit?: string): Promise<TimeSeries> {
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
