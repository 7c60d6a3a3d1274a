/**
 * `pio run export_experiment_data` (the original's name) and `pio export` (ours, same options):
 * datasets of one experiment from the leader database into a ZIP of CSVs.
 */
import path from "node:path";
import { type Command, Option } from "commander";
import type { ConfigReader } from "../config/types";
import type { ExportLogLevel } from "../leader/export/export-experiment-data";
import { CliError } from "./exit";

export interface ExportCommandDeps {
  loadConfig(): ConfigReader;
  /** $DOT_PIOREACTOR: dataset YAML files live under it. */
  dotPioreactor(): string;
  cwd: string;
  now: () => Date;
  softwareVersion: string;
  /** Log lines (stderr, as the original's logger). */
  warn(line: string): void;
}

interface ExportOptions {
  experiment: string;
  output: string;
  partitionByUnit?: boolean;
  partitionByExperiment?: boolean;
  datasetName: string[];
  startTime?: string;
  endTime?: string;
  format: "long" | "wide";
}

const SHOWN_LEVELS: ExportLogLevel[] = ["info", "notice", "warning", "error"];

export function registerExportCommand(parent: Command, name: string, deps: ExportCommandDeps): Command {
  return parent
    .command(name)
    .description("(leader only) Export datasets from db.")
    .requiredOption("--experiment <experiment>", "the experiment to export")
    .option("--output <path>", "the ZIP file to write", "./output.zip")
    .option("--partition-by-unit", "one CSV per unit")
    .option("--partition-by-experiment", "one CSV per experiment")
    .option("--dataset-name <name>", "a dataset to export (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--start-time <iso>", "Offset-aware ISO-8601 timestamp.")
    .option("--end-time <iso>", "Offset-aware ISO-8601 timestamp.")
    .addOption(
      new Option("--format <format>", "long: rows as stored; wide: one column per unit (and channel) per timestamp, for time series")
        .choices(["long", "wide"])
        .default("long"),
    )
    .action(async (o: ExportOptions) => {
      const { exportExperimentData } = require("../leader/export/export-experiment-data") as typeof import("../leader/export/export-experiment-data");
      const { loadDatasets } = require("../leader/export/datasets") as typeof import("../leader/export/datasets");
      const { ExportArgumentError } = require("../leader/export/time-filter") as typeof import("../leader/export/time-filter");
      const { databaseTargetFromConfig } = require("../leader/db/open") as typeof import("../leader/db/open");
      const config = deps.loadConfig();
      const target = databaseTargetFromConfig(config);
      if (target.client !== "sqlite") throw new CliError("export_experiment_data reads the leader's SQLite database; this leader is configured for PostgreSQL.");
      const dot = deps.dotPioreactor();
      const datasets = loadDatasets([path.join(dot, "exportable_datasets"), path.join(dot, "plugins", "exportable_datasets")], (p) =>
        deps.warn(`Yaml error in ${p.file}: ${p.message}`),
      );
      try {
        await exportExperimentData(
          {
            experiment: o.experiment,
            datasetNames: o.datasetName,
            output: path.resolve(deps.cwd, o.output),
            startTime: o.startTime,
            endTime: o.endTime,
            partitionByUnit: Boolean(o.partitionByUnit),
            partitionByExperiment: Boolean(o.partitionByExperiment),
            format: o.format,
          },
          {
            databasePath: target.filename,
            datasets,
            softwareVersion: deps.softwareVersion,
            now: deps.now,
            log: (level, message) => {
              if (SHOWN_LEVELS.includes(level)) deps.warn(`[export_experiment_data] ${level.toUpperCase()} ${message}`);
            },
          },
        );
      } catch (e) {
        if (e instanceof ExportArgumentError) throw new CliError(e.message);
        throw e;
      }
    });
}
