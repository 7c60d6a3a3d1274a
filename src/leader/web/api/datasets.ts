/**
 * Exportable datasets over HTTP: the list (built-ins overlaid with `$DOT_PIOREACTOR/exportable_datasets`
 * and `plugins/exportable_datasets` YAML), a preview of the first rows, and an export to a ZIP of
 * CSVs written by `src/leader/export` as a task; the UI then downloads `/exports/<filename>`.
 */
import path from "node:path";
import { Router } from "express";
import { SOFTWARE_VERSION } from "../../../cli/version";
import { UNIVERSAL_EXPERIMENT } from "../../../pubsub/topics";
import { databaseTargetFromConfig } from "../../db/open";
import { type DatasetDefinition, loadDatasets } from "../../export/datasets";
import { ExportArgumentError, parseTimeWindow } from "../../export/time-filter";
import type { WebContext, WebDeps } from "../deps";
import { badRequest, HttpError, notFound } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { decodeBody } from "../request-body";
import { sendLocked, TaskLocks } from "../task-locks";

export const PREVIEW_DEFAULT_ROWS = 5;
export const PREVIEW_MAX_ROWS = 100;

/** Where exports are written and served from (`/exports/<file>`). */
export function exportsDirOf(deps: Pick<WebDeps, "exportsDir" | "dotPioreactor">): string {
  return deps.exportsDir ?? path.join(deps.dotPioreactor, "exports");
}

/** The original's `Dataset` struct, its fields in its order (our `wide` layout stays internal). */
function publicShape(d: DatasetDefinition): Record<string, unknown> {
  return {
    dataset_name: d.dataset_name,
    description: d.description,
    display_name: d.display_name,
    has_experiment: d.has_experiment,
    has_unit: d.has_unit,
    default_order_by: d.default_order_by,
    table: d.table ?? null,
    query: d.query ?? null,
    source: d.source,
    timestamp_columns: d.timestamp_columns,
    always_partition_by_unit: d.always_partition_by_unit,
    column_descriptions: d.column_descriptions,
    column_units: d.column_units,
  };
}

/** msgspec encodes bytes as base64 strings; BigInts that fit become numbers. */
function jsonCell(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString("base64");
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}

function rowsOf(raw: unknown): Array<Record<string, unknown>> {
  const rows = Array.isArray(raw) ? raw : ((raw as { rows?: unknown[] })?.rows ?? []);
  return (rows as Array<Record<string, unknown>>).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, jsonCell(v)])));
}

function parseRowCount(raw: unknown): number {
  const invalid = (cause: string) =>
    badRequest("Invalid n_rows", { cause, remediation: `Provide n_rows as an integer from 1 to ${PREVIEW_MAX_ROWS}.` });
  if (raw === undefined) return PREVIEW_DEFAULT_ROWS;
  if (typeof raw !== "string" || !/^\s*[+-]?\d+\s*$/.test(raw)) throw invalid("n_rows must be an integer.");
  const n = Number.parseInt(raw, 10);
  if (n < 1 || n > PREVIEW_MAX_ROWS) throw invalid(`n_rows must be between 1 and ${PREVIEW_MAX_ROWS}.`);
  return n;
}

/** `YYYYmmddHHMMSS` in UTC, the original's export file stamp. */
function exportStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

interface ExportBody {
  datasets: string[];
  experiment: string;
  partition_by_unit: boolean;
  partition_by_experiment: boolean;
  start_time?: string | null;
  end_time?: string | null;
}

export function datasetRoutes(ctx: WebContext): Router {
  const r = Router();
  const locks = new TaskLocks(() => ctx.clock.now());
  const log = ctx.serverLog.child("get_exportable_datasets", UNIVERSAL_EXPERIMENT);
  const datasets = () =>
    loadDatasets([path.join(ctx.dotPioreactor, "exportable_datasets"), path.join(ctx.dotPioreactor, "plugins", "exportable_datasets")], (p) =>
      log.error(`Yaml error in ${p.file}: ${p.message}`),
    );

  r.get("/datasets/exportable", (_req, res) => {
    cacheFor(res, 60).json([...datasets().values()].map(publicShape));
  });

  r.get("/datasets/exportable/:name/preview", async (req, res) => {
    const n = parseRowCount(req.query.n_rows);
    const name = param(req.params.name);
    const dataset = datasets().get(name);
    if (!dataset) {
      throw notFound(`${name} not found`, {
        cause: "Dataset name not found in built-in or plugin exportable datasets.",
        remediation: "List exportable datasets and choose a valid dataset_name.",
      });
    }
    let raw: unknown;
    try {
      raw = await ctx.leaderDb().raw(`SELECT * FROM (${dataset.table ?? dataset.query}) LIMIT ?`, [n]);
    } catch (e) {
      throw badRequest(`Could not preview ${name}.`, {
        cause: (e as Error).message,
        remediation: "Check the dataset's table or query in its YAML definition.",
      });
    }
    res.json(rowsOf(raw));
  });

  r.post("/datasets/exportable/export", (req, res) => {
    const body = decodeBody<ExportBody>(req, {
      fields: {
        datasets: { type: "array", items: "str", required: true },
        experiment: { type: "str", required: true },
        partition_by_unit: { type: "bool", required: true },
        partition_by_experiment: { type: "bool", required: true },
        start_time: { type: "str", nullable: true },
        end_time: { type: "str", nullable: true },
      },
      forbidUnknown: true,
    });
    if (!body.experiment) throw badRequest("Invalid request body.", { cause: "experiment must not be empty", remediation: "Choose an experiment." });
    try {
      parseTimeWindow(body.start_time ?? undefined, body.end_time ?? undefined);
    } catch (e) {
      if (e instanceof ExportArgumentError) {
        throw badRequest("Invalid request body.", { cause: e.message, remediation: "Use ISO 8601 times with Z or a numeric UTC offset, or null." });
      }
      throw e;
    }
    const target = databaseTargetFromConfig(ctx.config());
    if (target.client !== "sqlite") {
      throw new HttpError(501, "Exports read the leader's SQLite database; this leader uses PostgreSQL.", {
        remediation: "Export with your PostgreSQL tools.",
      });
    }
    if (locks.isLocked("export-data-lock")) return sendLocked(res, "export-data-lock");
    const filename = `export_${exportStamp(ctx.clock.now())}.zip`;
    const output = path.join(exportsDirOf(ctx), filename);
    const exportLog = ctx.serverLog.child("export_experiment_data", UNIVERSAL_EXPERIMENT);
    const work = locks.hold("export-data-lock", async () => {
      const { exportExperimentData } = require("../../export/export-experiment-data") as typeof import("../../export/export-experiment-data");
      const fs = require("node:fs") as typeof import("node:fs");
      fs.mkdirSync(path.dirname(output), { recursive: true });
      try {
        await exportExperimentData(
          {
            experiment: body.experiment,
            datasetNames: body.datasets,
            output,
            startTime: body.start_time ?? undefined,
            endTime: body.end_time ?? undefined,
            partitionByUnit: body.partition_by_unit,
            partitionByExperiment: body.partition_by_experiment,
            format: "long",
          },
          {
            databasePath: target.filename,
            datasets: datasets(),
            softwareVersion: SOFTWARE_VERSION,
            now: () => new Date(ctx.clock.now()),
            log: (level, message) => {
              if (level !== "debug") exportLog.log(level.toUpperCase() as "INFO", message);
            },
          },
        );
      } catch (e) {
        exportLog.error(`Exporting experiment data failed: ${(e as Error).message}`);
        throw e;
      }
      return { result: true, filename, msg: "Finished" };
    });
    res.status(202).json(ctx.tasks.submit(work));
  });

  return r;
}
