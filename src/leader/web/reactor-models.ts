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
