/**
 * The projected liquid state of a vial (volume, alt-media fraction, cumulative volumes), stored
 * per experiment in the persistent `bioreactor` cache with key `["<experiment>", "<variable>"]`
 * and mirrored retained on `pioreactor/<unit>/<exp>/bioreactor/<variable>` — the same cache
 * and topics the original's web server and jobs read.
 *
 * Only the monitor applies dosing events to it (so there is one writer per unit); dosing
 * automations seed it at start and then follow the retained topics.
 */
import type { ConfigReader } from "../config/types";
import type { KeyValueCache } from "../jobs/local-storage";
import type { DosingEvent } from "../pubsub/structs";
import { formatPyFloat } from "../util/python-format";
import type { ReactorModel } from "./reactor-model";

export const BIOREACTOR_VARIABLES = [
  "current_volume_ml",
  "efflux_tube_volume_ml",
  "alt_media_fraction",
  "cumulative_media_added_ml",
  "cumulative_alt_media_added_ml",
  "cumulative_waste_removed_ml",
] as const;
export type BioreactorVariable = (typeof BIOREACTOR_VARIABLES)[number];

interface VariableRule {
  configKey: string;
  fallback: number;
  maximum: number | null;
  /** Volumes above the vessel's capacity are impossible; cumulative totals are not capped. */
  capAtModelCapacity: boolean;
}

const RULES: Record<BioreactorVariable, VariableRule> = {
  current_volume_ml: { configKey: "initial_volume_ml", fallback: 14, maximum: null, capAtModelCapacity: true },
  efflux_tube_volume_ml: { configKey: "efflux_tube_volume_ml", fallback: 14, maximum: null, capAtModelCapacity: true },
  alt_media_fraction: { configKey: "initial_alt_media_fraction", fallback: 0, maximum: 1, capAtModelCapacity: true },
  cumulative_media_added_ml: { configKey: "initial_cumulative_media_added_ml", fallback: 0, maximum: null, capAtModelCapacity: false },
  cumulative_alt_media_added_ml: {
    configKey: "initial_cumulative_alt_media_added_ml",
    fallback: 0,
    maximum: null,
    capAtModelCapacity: false,
  },
  cumulative_waste_removed_ml: { configKey: "initial_cumulative_waste_removed_ml", fallback: 0, maximum: null, capAtModelCapacity: false },
};

export class BioreactorValueError extends Error {
  override name = "BioreactorValueError";
}

export function bioreactorTopic(unit: string, experiment: string, variable: BioreactorVariable): string {
  return `pioreactor/${unit}/${experiment}/bioreactor/${variable}`;
}

/** The retained payload: Python's `str(float)`. */
export function encodeBioreactorValue(value: number): string {
  return formatPyFloat(value);
}

export class BioreactorState {
  constructor(
    private readonly cache: KeyValueCache,
    private readonly config: ConfigReader,
    private readonly model: ReactorModel,
  ) {}

  validate(variable: BioreactorVariable, raw: unknown): number {
    const rule = RULES[variable];
    const value = typeof raw === "number" ? raw : Number(Buffer.isBuffer(raw) ? raw.toString("utf8") : String(raw).trim());
    if (typeof raw === "string" && raw.trim() === "") throw new BioreactorValueError(`Invalid value for bioreactor variable \`${variable}\`.`);
    if (!Number.isFinite(value)) throw new BioreactorValueError(`Invalid value for bioreactor variable \`${variable}\`.`);
    let maximum = rule.maximum;
    if (rule.capAtModelCapacity) maximum = maximum === null ? this.model.reactorCapacityMl : Math.min(maximum, this.model.reactorCapacityMl);
    if (value < 0) throw new BioreactorValueError(`Value for bioreactor variable \`${variable}\` must be >= 0.0.`);
    if (maximum !== null && value > maximum) {
      throw new BioreactorValueError(`Value for bioreactor variable \`${variable}\` must be <= ${formatPyFloat(maximum)}.`);
    }
    return value;
  }

  defaultValue(variable: BioreactorVariable): number {
    const rule = RULES[variable];
    return this.validate(variable, this.config.getFloat("bioreactor", rule.configKey, rule.fallback));
  }

  get(experiment: string, variable: BioreactorVariable): number {
    const stored = this.cache.get([experiment, variable]);
    if (stored === undefined || stored === null) return this.defaultValue(variable);
    return this.validate(variable, stored);
  }

  set(experiment: string, variable: BioreactorVariable, value: unknown): number {
    const parsed = this.validate(variable, value);
    this.cache.set([experiment, variable], parsed);
    return parsed;
  }

  /**
   * Applies one dosing event and returns the new values in the order they are published.
   * Every value is validated before anything is stored, so a bad event changes nothing.
   */
  applyDosingEvent(experiment: string, event: Pick<DosingEvent, "volume_change" | "event">): Array<[BioreactorVariable, number]> {
    const v = event.volume_change;
    const volume = this.get(experiment, "current_volume_ml");
    const efflux = this.get(experiment, "efflux_tube_volume_ml");
    const fraction = this.get(experiment, "alt_media_fraction");
    const updates: Array<[BioreactorVariable, number]> = [
      ["alt_media_fraction", nextAltMediaFraction(event.event, v, fraction, volume)],
      ["current_volume_ml", nextVolume(event.event, v, volume, efflux)],
      ["cumulative_media_added_ml", this.get(experiment, "cumulative_media_added_ml") + (event.event === "add_media" ? v : 0)],
      ["cumulative_alt_media_added_ml", this.get(experiment, "cumulative_alt_media_added_ml") + (event.event === "add_alt_media" ? v : 0)],
      ["cumulative_waste_removed_ml", this.get(experiment, "cumulative_waste_removed_ml") + (event.event === "remove_waste" ? v : 0)],
    ];
    const validated = updates.map(([name, value]): [BioreactorVariable, number] => [
      name,
      this.validate(name, name.startsWith("cumulative") ? Math.max(value, 0) : value),
    ]);
    for (const [name, value] of validated) this.set(experiment, name, value);
    return validated;
  }
}

/** Any `add_*` raises the volume; waste lowers it to the efflux tube's tip at most. */
export function nextVolume(event: string, change: number, volume: number, efflux: number): number {
  if (event.startsWith("add_")) return Math.max(volume + change, 0);
  if (event === "remove_waste") {
    if (volume <= efflux) return Math.max(volume, 0);
    return Math.max(volume - change, efflux, 0);
  }
  throw new BioreactorValueError(`Unknown dosing event type \`${event}\`.`);
}

export function nextAltMediaFraction(event: string, change: number, fraction: number, volume: number): number {
  let altVolume = fraction * volume;
  let total = volume;
  if (event === "add_media") total += change;
  else if (event === "add_alt_media") {
    altVolume += change;
    total += change;
  } else return fraction;
  if (total <= 0) return fraction;
  const f = altVolume / total;
  // Snap round-off so a vial of pure media reads exactly 0 (and pure alt media exactly 1).
  if (f < 1e-12) return 0;
  if (f > 1 - 1e-12) return 1;
  return Math.min(1, Math.max(0, f));
}
