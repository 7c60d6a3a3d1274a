/**
 * `export_experiment_data`: datasets of one experiment from the leader's SQLite database into a
 * ZIP of CSVs (one folder per dataset, a `schema.json` each, a top-level `manifest.json`), with
 * the original's file names, columns and partitioning. Rows stream from SQLite into the deflater
 * one batch at a time; no table is ever loaded whole. `format: "wide"` (ours) pivots the
 * per-unit time series to one column per unit (and channel) per timestamp.
 */
import type { Database as SqliteDatabase, Statement } from "better-sqlite3";
import { csvLine, renderSqliteValue } from "./csv";
import type { DatasetDefinition, WideLayout } from "./datasets";
import { AtomicFileSink } from "./file-sink";
import { ExportArgumentError, parseTimeWindow, type TimeWindow } from "./time-filter";
import { ZipWriter } from "./zip-writer";

export const EXPORT_METADATA_SCHEMA_VERSION = 1;
/** Rows of CSV text gathered before handing them to the deflater; bounds memory per entry. */
const BATCH_BYTES = 64 * 1024;

export type ExportFormat = "long" | "wide";

export interface ExportRequest {
  experiment: string;
  datasetNames: string[];
  output: string;
  startTime?: string;
  endTime?: string;
  partitionByUnit: boolean;
  partitionByExperiment: boolean;
  format: ExportFormat;
}

export type ExportLogLevel = "debug" | "info" | "notice" | "warning" | "error";

export interface ExportDeps {
  databasePath: string;
  datasets: Map<string, DatasetDefinition>;
  softwareVersion: string;
  now: () => Date;
  log(level: ExportLogLevel, message: string): void;
}

export interface ExportedDataset {
  dataset_name: string;
  format: ExportFormat;
  row_count: number;
  csv_paths: string[];
}

interface CsvFileEntry {
  path: string;
  row_count: number;
  partition: { experiment: unknown; pioreactor_unit: unknown };
}

interface Placeholders {
  experiment?: string;
  start_time?: string;
  end_time?: string;
}

interface QueryParts {
  selects: string[];
  from: string;
  where: string[];
  joinExperiments: boolean;
  placeholders: Placeholders;
}

/** `YYYYmmddHHMMSS` in local time, the suffix the original puts on every CSV name. */
function fileTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** ISO-8601 local time with offset, like Python's `datetime.now().astimezone().isoformat()`. */
function localIsoWithOffset(d: Date): string {
  const p = (n: number, w = 2) => String(Math.trunc(Math.abs(n))).padStart(w, "0");
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.` +
    `${p(d.getMilliseconds(), 3)}000${sign}${p(offset / 60)}:${p(offset % 60)}`
  );
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function queryParts(dataset: DatasetDefinition, experiment: string, window: TimeWindow): QueryParts {
  const parts: QueryParts = {
    selects: ["T.*"],
    from: dataset.table ? `${quoteIdent(dataset.table)} T` : `(${dataset.query}) T`,
    where: [],
    joinExperiments: dataset.has_experiment,
    placeholders: {},
  };
  for (const c of dataset.timestamp_columns) parts.selects.push(`strftime('%Y-%m-%d %H:%M:%f', T.${c}, 'localtime') as ${c}_localtime`);
  if (dataset.has_experiment) {
    parts.placeholders.experiment = experiment;
    parts.where.push("T.experiment = :experiment");
    if (dataset.default_order_by) {
      parts.selects.push(`(unixepoch(T.${dataset.default_order_by}) - unixepoch(E.created_at))/3600.0 as hours_since_experiment_created`);
    }
  }
  if (dataset.timestamp_columns.length > 0 && dataset.default_order_by && (window.start || window.end)) {
    if (window.start) {
      parts.placeholders.start_time = window.start;
      parts.where.push(`T.${dataset.default_order_by} >= :start_time`);
    }
    if (window.end) {
      parts.placeholders.end_time = window.end;
      parts.where.push(`T.${dataset.default_order_by} <= :end_time`);
    }
  }
  return parts;
}

function buildSql(parts: QueryParts, selects: string[], orderBy: string[]): string {
  let sql = `SELECT ${selects.join(", ")} FROM ${parts.from}`;
  // LEFT JOIN: rows of virtual experiments such as `$experiment` have no experiments row.
  if (parts.joinExperiments) sql += " LEFT JOIN experiments E ON E.experiment = T.experiment";
  if (parts.where.length > 0) sql += ` WHERE ${parts.where.join(" AND ")}`;
  if (orderBy.length > 0) sql += ` ORDER BY ${orderBy.map((c) => `T.${c}`).join(", ")}`;
  return sql;
}

function sourceExists(db: SqliteDatabase, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE (type='table' or type='view') and name = ?").get(name) !== undefined;
}

function datasetSchema(dataset: DatasetDefinition, headers: string[], format: ExportFormat): Record<string, unknown> {
  const generatedNames = [...dataset.timestamp_columns.map((c) => `${c}_localtime`), "hours_since_experiment_created"];
  const generated = generatedNames.filter((c) => headers.includes(c));
  const entity = ["experiment", "pioreactor_unit"].filter(
    (c) => headers.includes(c) && ((c === "experiment" && dataset.has_experiment) || (c === "pioreactor_unit" && dataset.has_unit)),
  );
  const columns = headers.map((name) => {
    const column: Record<string, unknown> = { name, generated: generated.includes(name) };
    if (dataset.column_descriptions[name]) column.description = dataset.column_descriptions[name];
    if (dataset.column_units[name]) column.unit = dataset.column_units[name];
    return column;
  });
  const schema: Record<string, unknown> = {
    columns,
    dataset_name: dataset.dataset_name,
    default_order_by: dataset.default_order_by,
    description: dataset.description,
    display_name: dataset.display_name,
    entity_columns: entity,
    generated_columns: generated,
    query: dataset.query ?? null,
    schema_version: EXPORT_METADATA_SCHEMA_VERSION,
    source: dataset.source,
    table: dataset.table ?? null,
    timestamp_columns: dataset.timestamp_columns,
  };
  if (format === "wide") schema.format = "wide";
  return schema;
}

/** JSON as the original writes its metadata: keys sorted, two-space indent. */
function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}

function jsonValue(v: unknown): unknown {
  return typeof v === "bigint" ? Number(v) : v;
}

/** Writes CSV rows to a ZIP entry in batches, so the deflater gets few large writes. */
class CsvEntry {
  private buffer = "";
  rows = 0;

  private constructor(private readonly entry: import("./zip-writer").ZipEntryWriter) {}

  static async open(zip: ZipWriter, path: string, headers: string[]): Promise<CsvEntry> {
    const entry = new CsvEntry(await zip.openEntry(path, { method: "deflate", level: 1 }));
    entry.buffer = csvLine(headers);
    return entry;
  }

  async row(fields: string[]): Promise<void> {
    this.buffer += csvLine(fields);
    this.rows++;
    if (this.buffer.length >= BATCH_BYTES) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.entry.close();
  }

  private async flush(): Promise<void> {
    if (this.buffer === "") return;
    const text = this.buffer;
    this.buffer = "";
    await this.entry.write(text);
  }
}

interface DatasetContext {
  db: SqliteDatabase;
  zip: ZipWriter;
  dataset: DatasetDefinition;
  request: ExportRequest;
  window: TimeWindow;
  stamp: string;
  deps: ExportDeps;
}

interface DatasetOutcome {
  csvFiles: CsvFileEntry[];
  rowCount: number;
  format: ExportFormat;
}

async function exportLong(ctx: DatasetContext): Promise<DatasetOutcome> {
  const { db, zip, dataset, request } = ctx;
  const parts = queryParts(dataset, request.experiment, ctx.window);
  const probe = db.prepare(buildSql(parts, parts.selects, []));
  const headers = probe.columns().map((c) => c.name);
  const partitionUnit = dataset.has_unit && (request.partitionByUnit || dataset.always_partition_by_unit) && headers.includes("pioreactor_unit");
  const partitionExperiment = dataset.has_experiment && request.partitionByExperiment && headers.includes("experiment");
  const orderBy: string[] = partitionUnit ? ["pioreactor_unit"] : [];
  if (dataset.default_order_by && !orderBy.includes(dataset.default_order_by)) orderBy.push(dataset.default_order_by);

  await zip.addDirectory(dataset.dataset_name);
  await zip.addFile(`${dataset.dataset_name}/schema.json`, sortedJson(datasetSchema(dataset, headers, "long")));

  const statement: Statement = db.prepare(buildSql(parts, parts.selects, orderBy));
  const unitAt = headers.indexOf("pioreactor_unit");
  const experimentAt = headers.indexOf("experiment");
  const csvFiles: CsvFileEntry[] = [];
  let current: { key: string; csv: CsvEntry; entry: CsvFileEntry } | undefined;
  let count = 0;
  try {
    for (const row of statement.raw(true).iterate(parts.placeholders) as IterableIterator<unknown[]>) {
      const experiment = partitionExperiment ? row[experimentAt] : "all_experiments";
      const unit = partitionUnit ? row[unitAt] : "all_units";
      const key = `${String(experiment)}\u0000${String(unit)}`;
      if (!current || current.key !== key) {
        if (current) await current.csv.close();
        const name = `${dataset.dataset_name}-${String(experiment)}-${String(unit)}-${ctx.stamp}.csv`.replace(/ /g, "_");
        const path = `${dataset.dataset_name}/${name}`;
        const entry: CsvFileEntry = { path, row_count: 0, partition: { experiment: jsonValue(experiment), pioreactor_unit: jsonValue(unit) } };
        csvFiles.push(entry);
        current = { key, csv: await CsvEntry.open(zip, path, headers), entry };
      }
      await current.csv.row(row.map(renderSqliteValue));
      current.entry.row_count++;
      count++;
      if (count % 10_000 === 0) ctx.deps.log("debug", `Exported ${count} rows...`);
    }
  } finally {
    if (current) await current.csv.close();
  }
  return { csvFiles, rowCount: count, format: "long" };
}

/** Column name for one unit (and channel) in a wide table. */
function wideColumnName(unit: unknown, channel: unknown, layout: WideLayout): string {
  return layout.channel_column ? `${String(unit)}_ch${String(channel)}` : String(unit);
}

async function exportWide(ctx: DatasetContext, layout: WideLayout): Promise<DatasetOutcome> {
  const { db, zip, dataset, request } = ctx;
  const timeColumn = dataset.default_order_by ?? "timestamp";
  const parts = queryParts(dataset, request.experiment, ctx.window);
  // First pass (index-backed DISTINCT): the header must name every unit/channel before any row.
  const keySelects = ["T.pioreactor_unit", ...(layout.channel_column ? [`T.${layout.channel_column}`] : [])];
  const keySql = `SELECT DISTINCT ${keySelects.join(", ")} FROM ${parts.from}${parts.where.length ? ` WHERE ${parts.where.join(" AND ")}` : ""} ORDER BY 1${layout.channel_column ? ", 2" : ""}`;
  const keys = db.prepare(keySql).raw(true).all(parts.placeholders) as unknown[][];
  const columnOf = new Map<string, number>();
  const valueColumns: string[] = [];
  for (const [unit, channel] of keys) {
    columnOf.set(`${String(unit)}\u0000${String(channel)}`, valueColumns.length);
    valueColumns.push(wideColumnName(unit, channel, layout));
  }
  const leading = [
    ...(dataset.has_experiment ? ["experiment"] : []),
    timeColumn,
    ...(dataset.timestamp_columns.includes(timeColumn) ? [`${timeColumn}_localtime`] : []),
    ...(dataset.has_experiment && dataset.default_order_by ? ["hours_since_experiment_created"] : []),
  ];
  const headers = [...leading, ...valueColumns];

  await zip.addDirectory(dataset.dataset_name);
  await zip.addFile(`${dataset.dataset_name}/schema.json`, sortedJson(datasetSchema(dataset, headers, "wide")));

  const selects = [
    ...(dataset.has_experiment ? ["T.experiment"] : []),
    `T.${timeColumn}`,
    // The generated columns (local times, hours since the experiment was created).
    ...parts.selects.slice(1),
    "T.pioreactor_unit",
    ...(layout.channel_column ? [`T.${layout.channel_column}`] : []),
    `T.${layout.value_column}`,
  ];
  const sql = buildSql(parts, selects, [timeColumn]);
  const statement = db.prepare(sql);
  const names = statement.columns().map((c) => c.name);
  const leadingAt = leading.map((c) => names.indexOf(c));
  const unitAt = names.indexOf("pioreactor_unit");
  const channelAt = layout.channel_column ? names.indexOf(layout.channel_column) : -1;
  const valueAt = names.indexOf(layout.value_column);
  const timeAt = names.indexOf(timeColumn);

  const experimentLabel = dataset.has_experiment && request.partitionByExperiment ? request.experiment : "all_experiments";
  const path = `${dataset.dataset_name}/${`${dataset.dataset_name}-${experimentLabel}-all_units-${ctx.stamp}.csv`.replace(/ /g, "_")}`;
  const csv = await CsvEntry.open(zip, path, headers);
  let pending: { time: unknown; fields: string[] } | undefined;
  let count = 0;
  try {
    for (const row of statement.raw(true).iterate(parts.placeholders) as IterableIterator<unknown[]>) {
      count++;
      if (!pending || pending.time !== row[timeAt]) {
        if (pending) await csv.row(pending.fields);
        pending = { time: row[timeAt], fields: [...leadingAt.map((i) => renderSqliteValue(row[i])), ...valueColumns.map(() => "")] };
      }
      const column = columnOf.get(`${String(row[unitAt])}\u0000${String(channelAt >= 0 ? row[channelAt] : undefined)}`);
      if (column !== undefined) pending.fields[leading.length + column] = renderSqliteValue(row[valueAt]);
    }
    if (pending) await csv.row(pending.fields);
  } finally {
    await csv.close();
  }
  const entry: CsvFileEntry = { path, row_count: csv.rows, partition: { experiment: experimentLabel, pioreactor_unit: "all_units" } };
  return { csvFiles: [entry], rowCount: count, format: "wide" };
}

/** Runs one export; resolves with what was written, rejects (and leaves no archive) on failure. */
export async function exportExperimentData(request: ExportRequest, deps: ExportDeps): Promise<ExportedDataset[]> {
  if (!request.experiment) throw new ExportArgumentError("Exactly one experiment must be provided.");
  if (!request.output.endsWith(".zip")) throw new ExportArgumentError("output should end with .zip");
  if (request.datasetNames.length === 0) throw new ExportArgumentError("At least one dataset name must be provided.");
  const window = parseTimeWindow(request.startTime, request.endTime);
  const plural = request.datasetNames.length > 1 ? "s" : "";
  deps.log("info", `Starting export of dataset${plural}: ${request.datasetNames.join(", ")} to ${request.output}.`);

  const Database = require("better-sqlite3") as typeof import("better-sqlite3");
  const db = new Database(deps.databasePath, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 15000");
  db.defaultSafeIntegers(true);
  // SQLite's CLI has base64(); the library does not, and dataset queries may use it.
  db.function("BASE64", { deterministic: true }, (s: unknown) => Buffer.from(String(s), "base64").toString("utf8"));

  const sink = new AtomicFileSink(request.output);
  const zip = new ZipWriter(sink, deps.now);
  const startedAt = deps.now();
  const stamp = fileTimestamp(startedAt);
  const exported: ExportedDataset[] = [];
  const manifestDatasets: Record<string, unknown>[] = [];
  try {
    for (const name of request.datasetNames) {
      const dataset = deps.datasets.get(name);
      if (!dataset) {
        deps.log(
          "warning",
          `Dataset \`${name}\` is not found as an available exportable dataset. A yaml file needs to be added to ~/.pioreactor/exportable_datasets. Skipping. Available datasets are ${[...deps.datasets.keys()].join(", ")}`,
        );
        continue;
      }
      if (!dataset.table && !dataset.query) throw new Error("query or table must be defined.");
      if (dataset.table && !sourceExists(db, dataset.table)) throw new Error(`Table ${dataset.table} does not exist.`);
      const ctx: DatasetContext = { db, zip, dataset, request, window, stamp, deps };
      const wide = request.format === "wide" && dataset.wide && dataset.has_unit ? dataset.wide : undefined;
      const outcome = wide ? await exportWide(ctx, wide) : await exportLong(ctx);
      deps.log("debug", `Exported ${outcome.rowCount} rows from ${name}.`);
      if (outcome.rowCount === 0) deps.log("warning", `No data present in ${name} with applied filters.`);
      const experiments = [...new Set(outcome.csvFiles.map((f) => f.partition.experiment).filter((e) => e !== "all_experiments"))].sort();
      const units = [...new Set(outcome.csvFiles.map((f) => f.partition.pioreactor_unit).filter((u) => u !== "all_units"))].sort();
      const manifestEntry: Record<string, unknown> = {
        csv_files: outcome.csvFiles,
        csv_paths: outcome.csvFiles.map((f) => f.path),
        dataset_name: name,
        display_name: dataset.display_name,
        partition_values: { experiments, pioreactor_units: units },
        row_count: outcome.rowCount,
        schema_path: `${name}/schema.json`,
      };
      if (outcome.format === "wide") manifestEntry.format = "wide";
      manifestDatasets.push(manifestEntry);
      exported.push({ dataset_name: name, format: outcome.format, row_count: outcome.rowCount, csv_paths: outcome.csvFiles.map((f) => f.path) });
    }
    const manifest = {
      datasets: manifestDatasets,
      export_created_at: localIsoWithOffset(startedAt),
      filters: {
        end_time: window.end ?? null,
        experiment: request.experiment,
        partition_by_experiment: request.partitionByExperiment,
        partition_by_unit: request.partitionByUnit,
        start_time: window.start ?? null,
      },
      pioreactor_version: deps.softwareVersion,
      schema_version: EXPORT_METADATA_SCHEMA_VERSION,
      selected_datasets: request.datasetNames,
    };
    await zip.addFile("manifest.json", sortedJson(manifest));
    await zip.finish();
    sink.commit();
  } catch (e) {
    sink.discard();
    throw e;
  } finally {
    db.close();
  }
  deps.log("info", `Finished export to ${request.output}.`);
  return exported;
}
