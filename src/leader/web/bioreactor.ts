/**
 * The unit's bioreactor variables as the web server sees them: the same persistent cache and
 * validation the monitor and pumps use (`BioreactorState`), bound to this unit's vessel model, plus
 * the descriptor filling the settings UI relies on (defaults and bounds come from the variable
 * registry, not from the YAML).
 */
import { BIOREACTOR_VARIABLES, type BioreactorVariable, BioreactorState } from "../../automations/bioreactor-state";
import type { ReactorModel } from "../../automations/reactor-model";
import type { ConfigReader } from "../../config/types";
import type { KeyValueCache } from "../../jobs/local-storage";
import type { WebContext } from "./deps";
import { badRequest, HttpError } from "./http-errors";
import { findReactorModel } from "./reactor-models";

export function isBioreactorVariable(name: string): name is BioreactorVariable {
  return (BIOREACTOR_VARIABLES as readonly string[]).includes(name);
}

export function bioreactorCache(ctx: WebContext): KeyValueCache {
  if (!ctx.persistentCache) {
    throw new HttpError(503, "Bioreactor values are not available on this unit.", {
      cause: "The server was started without a persistent cache.",
      remediation: "Check [storage] persistent_cache and restart pio serve.",
    });
  }
  return ctx.persistentCache("bioreactor");
}

/** A registered model or the original's 400 (dosing fails closed on an unknown model). */
export function requireModel(ctx: WebContext, name: string, version: string): ReactorModel {
  const model = findReactorModel(ctx.dotPioreactor, name, version);
  if (!model) {
    throw badRequest("Unknown Pioreactor model.", {
      cause: `Unknown model '${name}' with version '${version}'.`,
      remediation: "Assign a model available on this worker before dosing.",
    });
  }
  return model;
}

/** This unit's own model; its capacity bounds the volume variables. */
export async function thisUnitsModel(ctx: WebContext): Promise<ReactorModel> {
  let resolved: { modelName: string | null; modelVersion: string | null };
  try {
    if (!ctx.unitModel) throw new Error("This server does not know its unit's model.");
    resolved = await ctx.unitModel();
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  if (!resolved.modelName || !resolved.modelVersion) throw badRequest("Unknown Pioreactor model: name and version not set yet.");
  const model = findReactorModel(ctx.dotPioreactor, resolved.modelName, resolved.modelVersion);
  if (!model) throw badRequest(`Unknown Pioreactor model ${resolved.modelName} v${resolved.modelVersion}.`);
  return model;
}

export async function unitBioreactorState(ctx: WebContext): Promise<BioreactorState> {
  return new BioreactorState(bioreactorCache(ctx), ctx.config(), await thisUnitsModel(ctx));
}

/** A model without a capacity: the descriptor defaults are shown unchecked against any vessel, as the original. */
const UNBOUNDED: ReactorModel = {
  modelName: "",
  modelVersion: "",
  reactorCapacityMl: Number.POSITIVE_INFINITY,
  reactorMaxFillVolumeMl: Number.POSITIVE_INFINITY,
  maxTempToReduceHeating: 0,
  maxTempToDisableHeating: 0,
  maxTempToShutdown: 0,
};

/** The registry's bounds (before the vessel's capacity applies): every variable ≥ 0, a fraction ≤ 1. */
function registryBounds(variable: BioreactorVariable): { min: number; max: number | null } {
  return { min: 0, max: variable === "alt_media_fraction" ? 1 : null };
}

type Descriptor = Record<string, unknown> & { key?: unknown; published_settings?: unknown };

/**
 * The `bioreactor` settings collection presents the registry's variables: unknown keys are dropped
 * and `default`/`min`/`max` come from `[bioreactor]` config and the registry. A default the config
 * makes invalid is reported and left out rather than failing the whole list.
 */
export function fillBioreactorDescriptors(descriptors: Descriptor[], config: ConfigReader, report: (m: string) => void): Descriptor[] {
  // Only `defaultValue` is used: it reads config, never the cache.
  const defaults = new BioreactorState(undefined as unknown as KeyValueCache, config, UNBOUNDED);
  return descriptors.map((d) => {
    if (d.key !== "bioreactor" || !Array.isArray(d.published_settings)) return d;
    const settings = (d.published_settings as Array<Record<string, unknown>>).flatMap((s) => {
      const key = String(s.key);
      if (!isBioreactorVariable(key)) return [];
      let value: number | null = null;
      try {
        value = defaults.defaultValue(key);
      } catch (e) {
        report(`Bioreactor default for ${key}: ${(e as Error).message}`);
      }
      const { min, max } = registryBounds(key);
      return [{ ...s, default: value, min, max }];
    });
    return { ...d, published_settings: settings };
  });
}

/**
 * The original's manual-dosing guard: `add_media`/`add_alt_media` with `ml` in an experiment is
 * refused when the vial's tracked volume plus the dose would reach the model's fill limit. The
 * model is the request's MODEL_NAME/MODEL_VERSION when both are given, else this unit's own.
 */
export async function manualDoseIsUnsafe(ctx: WebContext, job: string, options: Record<string, unknown>, env: Record<string, string>): Promise<boolean> {
  if (job !== "add_media" && job !== "add_alt_media") return false;
  const ml = options.ml;
  if (ml === undefined || ml === null) return false;
  const experiment = env.EXPERIMENT;
  if (!experiment) return false;
  const addition = typeof ml === "number" ? ml : Number(String(ml).trim());
  if (!Number.isFinite(addition) || String(ml).trim() === "") {
    throw badRequest("Invalid dose.", { cause: `ml=${JSON.stringify(ml)} is not a number.`, remediation: "Send ml as a number of millilitres." });
  }
  if (addition < 0) return false;
  const model = env.MODEL_NAME && env.MODEL_VERSION ? requireModel(ctx, env.MODEL_NAME, env.MODEL_VERSION) : await thisUnitsModel(ctx);
  const state = new BioreactorState(bioreactorCache(ctx), ctx.config(), model);
  return state.get(experiment, "current_volume_ml") + addition >= model.reactorMaxFillVolumeMl;
}
