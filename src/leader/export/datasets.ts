/**
 * Exportable datasets: what `export_experiment_data` can put in an archive. The built-in ones
 * cover the leader's tables; YAML files in `$DOT_PIOREACTOR/exportable_datasets` and
 * `$DOT_PIOREACTOR/plugins/exportable_datasets` add to them or replace them by `dataset_name`,
 * with the original's field names, so existing dataset files keep working.
 */
import fs from "node:fs";
import path from "node:path";

export interface DatasetDefinition {
  dataset_name: string;
  display_name: string;
  description: string | null;
  has_experiment: boolean;
  has_unit: boolean;
  default_order_by: string | null;
  table?: string | null;
  query?: string | null;
  source: string;
  timestamp_columns: string[];
  always_partition_by_unit: boolean;
  column_descriptions: Record<string, string>;
  column_units: Record<string, string>;
  /** Ours: how to pivot the dataset for `--format wide` (absent: long only). */
  wide?: WideLayout;
}

/** One output column per unit (and channel, when given) holding `value_column`, one row per timestamp. */
export interface WideLayout {
  value_column: string;
  channel_column?: string;
}

type Builtin = Pick<DatasetDefinition, "dataset_name" | "display_name" | "description"> &
  Partial<Omit<DatasetDefinition, "dataset_name" | "display_name" | "description">>;

/** A per-unit time series keyed by `timestamp`, the shape most leader tables have. */
function series(name: string, display: string, description: string, wide?: WideLayout, extra: Partial<DatasetDefinition> = {}): Builtin {
  return { dataset_name: name, display_name: display, description, table: name, wide, ...extra };
}

/**
 * Automation settings are stored as base64 of a JSON object; like the original's dataset files, the
 * export adds the decoded JSON as `json_settings` through the SQL function `BASE64`.
 */
function automationSettings(kind: string, label: string): Builtin {
  return {
    dataset_name: `${kind}_automation_settings`,
    display_name: `${label} automation settings`,
    description: `${label} automation settings changes.`,
    query: `SELECT *, BASE64(settings) as json_settings FROM ${kind}_automation_settings`,
    timestamp_columns: ["started_at", "ended_at"],
    default_order_by: "started_at",
  };
}

const BUILTINS: Builtin[] = [
  series("pioreactor_unit_activity_data", "Pioreactor unit activity timeline", "OD, temperature, growth rate, stirring, LED and dosing per unit on one timeline.", undefined, {
    always_partition_by_unit: true,
  }),
  series("logs", "Pioreactor logs", "Log records from every unit."),
  series("od_readings", "Optical density", "OD readings per photodiode channel, calibrated when a calibration is active.", {
    value_column: "od_reading",
    channel_column: "channel",
  }),
  series("raw_od_readings", "Raw optical density", "Uncalibrated OD readings per photodiode channel.", { value_column: "od_reading", channel_column: "channel" }),
  series("od_readings_fused", "Fused optical density", "OD fused across photodiode channels.", { value_column: "od_reading" }),
  series("od_readings_filtered", "Normalized optical density", "Filtered and normalized OD used for growth-rate calculations.", {
    value_column: "normalized_od_reading",
  }),
  series("growth_rates", "Implied growth rate", "Growth rate calculated by growth_rate_calculating.", { value_column: "rate" }),
  series("liquid_volumes", "Liquid volumes", "Vial liquid volume over time.", { value_column: "liquid_volume" }),
  series("alt_media_fractions", "Alternative media fraction", "Fraction of alternative media in the vial over time.", { value_column: "alt_media_fraction" }),
  series("temperature_readings", "Temperature readings", "Vial temperature over time.", { value_column: "temperature_c" }),
  series("stirring_rates", "Stirring rates", "Measured stirring speed over time.", { value_column: "measured_rpm" }),
  series("dosing_events", "Dosing event log", "Every pump action with its volume and source."),
  series("led_change_events", "LED change log", "Every LED intensity change."),
  series("ir_led_intensities", "IR LED intensities", "Relative IR LED intensity over time."),
  automationSettings("dosing", "Dosing"),
  automationSettings("led", "LED"),
  automationSettings("temperature", "Temperature"),
  series("dosing_automation_events", "Dosing automation events", "Events raised by dosing automations."),
  series("led_automation_events", "LED automation events", "Events raised by LED automations."),
  series("temperature_automation_events", "Temperature automation events", "Events raised by temperature automations."),
  series("pwm_dcs", "PWM duty cycles", "PWM duty cycles per unit over time."),
  {
    dataset_name: "experiments",
    display_name: "Experiments",
    description: "Experiment names, creation times and descriptions.",
    table: "experiments",
    has_experiment: false,
    has_unit: false,
    default_order_by: "created_at",
    timestamp_columns: ["created_at"],
  },
  {
    dataset_name: "pioreactor_unit_labels",
    display_name: "Pioreactor unit labels",
    description: "Labels given to units in each experiment.",
    table: "pioreactor_unit_labels",
    has_experiment: true,
    has_unit: true,
    default_order_by: "created_at",
    timestamp_columns: ["created_at"],
  },
];

function complete(d: Builtin): DatasetDefinition {
  return {
    has_experiment: true,
    has_unit: true,
    default_order_by: "timestamp",
    table: null,
    query: null,
    source: "app",
    timestamp_columns: ["timestamp"],
    always_partition_by_unit: false,
    column_descriptions: {},
    column_units: {},
    ...d,
  };
}

export function builtinDatasets(): Map<string, DatasetDefinition> {
  return new Map(BUILTINS.map((d) => [d.dataset_name, complete(d)]));
}

export interface DatasetFileProblem {
  file: string;
  message: string;
}

const REQUIRED_FIELDS = ["dataset_name", "display_name", "has_experiment", "has_unit"] as const;

/** Parses one dataset YAML file; throws with a one-line message naming what is wrong. */
export function parseDatasetYaml(text: string): DatasetDefinition {
  const YAML = require("yaml") as typeof import("yaml");
  const raw = YAML.parse(text) as Record<string, unknown> | null;
  if (!raw || typeof raw !== "object") throw new Error("expected a mapping");
  for (const field of REQUIRED_FIELDS) if (raw[field] === undefined) throw new Error(`missing required field ${field}`);
  if (typeof raw.dataset_name !== "string") throw new Error("dataset_name must be a string");
  if (typeof raw.has_experiment !== "boolean" || typeof raw.has_unit !== "boolean") throw new Error("has_experiment and has_unit must be booleans");
  if (!raw.table && !raw.query) throw new Error("query or table must be defined.");
  return complete({ description: null, default_order_by: null, timestamp_columns: [], ...(raw as Partial<DatasetDefinition>) } as Builtin);
}

/** Built-ins overlaid with the YAML dataset files under `dirs` (later files win); problems are reported, not fatal. */
export function loadDatasets(dirs: string[], onProblem: (p: DatasetFileProblem) => void): Map<string, DatasetDefinition> {
  const datasets = builtinDatasets();
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    const files = fs
      .readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    for (const file of files) {
      try {
        const d = parseDatasetYaml(fs.readFileSync(path.join(dir, file), "utf8"));
        datasets.set(d.dataset_name, d);
      } catch (e) {
        onProblem({ file, message: (e as Error).message });
      }
    }
  }
  return datasets;
}
