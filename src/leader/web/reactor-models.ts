/**
 * Which vessel models this unit knows, as the original's model registry: the built-in models plus
 * contributed definitions in `$DOT_PIOREACTOR/models/*.yaml`. The dosing safety check refuses a
 * model it cannot find instead of guessing a fill limit (the original fails closed the same way).
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { type ReactorModel, reactorModel } from "../../automations/reactor-model";

const CORE_MODELS: ReadonlyArray<readonly [string, string]> = [
  ["pioreactor_40ml", "1.5"],
  ["pioreactor_40ml", "1.0"],
  ["pioreactor_20ml", "1.1"],
  ["pioreactor_20ml", "1.0"],
  ["pioreactor_20ml", "1.5"],
  ["pioreactor_40ml_XR", "1.5"],
  ["pioreactor_20ml_XR", "1.5"],
];

function contributedModel(file: string): ReactorModel | undefined {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  const name = m.model_name;
  const version = m.model_version;
  const capacity = Number(m.reactor_capacity_ml);
  const maxFill = Number(m.reactor_max_fill_volume_ml);
  if (typeof name !== "string" || (typeof version !== "string" && typeof version !== "number")) return undefined;
  if (!Number.isFinite(capacity) || !Number.isFinite(maxFill)) return undefined;
  const base = reactorModel(name, String(version));
  return { ...base, reactorCapacityMl: capacity, reactorMaxFillVolumeMl: maxFill };
}

/** The model `name` `version`, or undefined when neither built in nor contributed. */
export function findReactorModel(dotPioreactor: string, name: string, version: string): ReactorModel | undefined {
  if (CORE_MODELS.some(([n, v]) => n === name && v === version)) return reactorModel(name, version);
  const dir = path.join(dotPioreactor, "models");
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  } catch {
    return undefined;
  }
  for (const f of files.sort()) {
    const model = contributedModel(path.join(dir, f));
    if (model && model.modelName === name && model.modelVersion === version) return model;
  }
  return undefined;
}

/** The original's `Model` struct as `/api/models` and `/api/workers/<u>/model` send it. */
export interface ModelRecord {
  model_name: string;
  model_version: string;
  display_name: string;
  reactor_capacity_ml: number;
  reactor_diameter_mm: number;
  reactor_max_fill_volume_ml: number;
  max_temp_to_reduce_heating: number;
  max_temp_to_disable_heating: number;
  max_temp_to_shutdown: number;
  is_legacy: boolean;
  is_contrib: boolean;
}

const LATEST = new Set(["pioreactor_20ml 1.5", "pioreactor_40ml 1.5", "pioreactor_20ml_XR 1.5", "pioreactor_40ml_XR 1.5"]);

function coreRecord(name: string, version: string): ModelRecord {
  const m = reactorModel(name, version);
  const size = name.startsWith("pioreactor_20ml") ? "20ml" : "40ml";
  return {
    model_name: name,
    model_version: version,
    display_name: `Pioreactor ${size}${name.endsWith("_XR") ? " XR" : ""}, v${version}`,
    reactor_capacity_ml: m.reactorCapacityMl,
    reactor_diameter_mm: 27,
    reactor_max_fill_volume_ml: m.reactorMaxFillVolumeMl,
    max_temp_to_reduce_heating: m.maxTempToReduceHeating,
    max_temp_to_disable_heating: m.maxTempToDisableHeating,
    max_temp_to_shutdown: m.maxTempToShutdown,
    is_legacy: !LATEST.has(`${name} ${version}`),
    is_contrib: false,
  };
}

const NUMBER_FIELDS = [
  "reactor_capacity_ml",
  "reactor_diameter_mm",
  "reactor_max_fill_volume_ml",
  "max_temp_to_reduce_heating",
  "max_temp_to_disable_heating",
  "max_temp_to_shutdown",
] as const;

/** A complete `Model` from `$DOT_PIOREACTOR/models/*.y*ml` (the original's msgspec decode), tagged contributed. */
function contributedRecord(file: string): ModelRecord | undefined {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (typeof m.model_name !== "string" || typeof m.model_version !== "string" || typeof m.display_name !== "string") return undefined;
  if (!NUMBER_FIELDS.every((k) => typeof m[k] === "number")) return undefined;
  const out = { model_name: m.model_name, model_version: m.model_version, display_name: m.display_name } as ModelRecord;
  for (const k of NUMBER_FIELDS) out[k] = m[k] as number;
  return { ...out, is_legacy: false, is_contrib: true };
}

/** Built-in models in the original's order, then contributed ones (which replace a built-in of the same name and version). */
export function registeredModels(dotPioreactor: string): ModelRecord[] {
  const byKey = new Map<string, ModelRecord>();
  for (const [name, version] of CORE_MODELS) byKey.set(`${name}\u0000${version}`, coreRecord(name, version));
  let files: string[] = [];
  try {
    files = fs.readdirSync(path.join(dotPioreactor, "models")).filter((f) => /\.y[a-z]*ml$/.test(f));
  } catch {
    // no contributed models
  }
  for (const f of files.sort()) {
    const record = contributedRecord(path.join(dotPioreactor, "models", f));
    if (record) byKey.set(`${record.model_name}\u0000${record.model_version}`, record);
  }
  return [...byKey.values()];
}
