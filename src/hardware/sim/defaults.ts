/**
 * Default physics for a simulated unit, and how a hardware map plus the unit's `[PWM]`,
 * `[leds]` and `[od_config.photodiode_channel]` settings become the simulator's wiring.
 *
 * Numbers are chosen to look like a real Pioreactor: ~0.03 V at 90° for a fresh OD 0.05 culture
 * at 80 % IR, REF ≈ 0.1 V at 80 %, 500 RPM at 30 % duty, a vial that would settle ~60 °C above
 * room at full heater power held continuously, with a time constant of several minutes. The
 * temperature job keeps the heater off ~105 s of every 200 s to measure, so 37 °C in a 22 °C
 * room takes about half the heater's duty: 4 W was too weak to reach 37 °C at all.
 */

import type { HardwareMap } from "../hardware-map";
import type { LedChannel, PwmChannel } from "../ports";
import type { AdcInputRole, BioreactorParams, PwmRole } from "./bioreactor";
import type { PhotodiodeRole } from "./optics";

/** The original's testing-mode pump default (5 mL/s at 100 % duty), so uncalibrated dosing in TESTING mode agrees with the sim. */
export const DEFAULT_PUMP_ML_PER_SECOND = 5.0;

/** `[PWM]` defaults of config.example.ini. */
export const DEFAULT_PWM_ROLES: Record<PwmChannel, PwmRole> = {
  "1": "stirring",
  "2": "media",
  "3": "alt_media",
  "4": "waste",
  "5": "heating",
};

/** `[od_config.photodiode_channel]` defaults: REF on 1, 90° on 2. */
export const DEFAULT_PHOTODIODES: Record<string, PhotodiodeRole | null> = { "1": "REF", "2": "90" };

export interface WiringOptions {
  pwmRoles?: Partial<Record<PwmChannel, PwmRole>>;
  irLedChannel?: LedChannel;
  /** Photodiode channel ("1".."4") → angle or REF; null/absent = nothing mounted there. */
  photodiodes?: Record<string, PhotodiodeRole | null>;
}

export function wiringFromMap(map: HardwareMap, opts: WiringOptions = {}): BioreactorParams["wiring"] {
  const roles = { ...DEFAULT_PWM_ROLES, ...opts.pwmRoles };
  const pinRoles: Record<string, PwmRole> = {};
  for (const [channel, pin] of Object.entries(map.pwm.channelToPin)) {
    pinRoles[String(pin)] = channel === map.pwm.heaterChannel ? "heating" : (roles[channel as PwmChannel] ?? "other");
  }
  const photodiodes = opts.photodiodes ?? DEFAULT_PHOTODIODES;
  const adcInputs: Record<string, AdcInputRole> = {};
  for (const name of Object.keys(map.adc)) {
    if (name === "aux") adcInputs[name] = "aux";
    else if (name === "version") adcInputs[name] = "version";
    else if (name.startsWith("pd")) adcInputs[name] = photodiodes[name.slice(2)] ?? "unused";
    else adcInputs[name] = "unused";
  }
  return { pinRoles, irLedChannel: opts.irLedChannel ?? "A", adcInputs };
}

/** Vial capacity by model family (20 ml or 40 ml). */
export function vesselCapacityMl(modelName: string): number {
  return modelName.startsWith("pioreactor_20ml") ? 20 : 40;
}

export function defaultParams(map: HardwareMap, wiring: WiringOptions = {}): BioreactorParams {
  return {
    culture: {
      maxGrowthRatePerHour: 0.8,
      carryingCapacityOd: 4.0,
      lagHours: 1.0,
      cardinal: { minC: 8, optC: 37, maxC: 45 },
      altMediaGrowthFactor: 1,
    },
    vessel: { capacityMl: vesselCapacityMl(map.modelName), effluxTubeMl: 15 },
    thermal: {
      heaterWatts: 8,
      pcbHeatCapacityJPerK: 60,
      vialDryHeatCapacityJPerK: 20,
      pcbToVialWPerK: 0.15,
      pcbToAmbientWPerK: 0.05,
      vialToAmbientWPerK: 0.06,
    },
    stirrer: {
      rpmPerPercent: 25,
      deadBandPercent: 10,
      breakawayPercent: 20,
      maxRpm: 2500,
      timeConstantSeconds: 1.0,
      periodJitter: 0.01,
    },
    optics: {
      angles: {
        "45": { voltsAtFullIr: 0.9, blankOd: 0.03, saturationOd: 4, absorbancePerOd: 0 },
        "90": { voltsAtFullIr: 0.6, blankOd: 0.02, saturationOd: 4, absorbancePerOd: 0 },
        "135": { voltsAtFullIr: 0.35, blankOd: 0.2, saturationOd: 4, absorbancePerOd: 0 },
        "180": { voltsAtFullIr: 2.0, blankOd: 0, saturationOd: 1, absorbancePerOd: 0.5 },
      },
      refVoltsAtFullIr: 0.12,
      ledTemperatureCoefficientPerC: -0.003,
      darkVolts: 0.002,
      crosstalkVoltsPerPercent: 0.0005,
      relativeNoise: 0.035,
      absoluteNoiseVolts: 0.0003,
      stirringNoisePer1000Rpm: 0.2,
      noiseAutocorrelation: 0.02,
      spikeProbability: 0.0073,
      refNoiseVolts: 0.00015,
      mainsRippleVolts: 0,
      mainsHz: 60,
      maxVolts: 3.3,
    },
    pumps: {
      media: { mlPerSecondAtFullDuty: DEFAULT_PUMP_ML_PER_SECOND },
      alt_media: { mlPerSecondAtFullDuty: DEFAULT_PUMP_ML_PER_SECOND },
      waste: { mlPerSecondAtFullDuty: DEFAULT_PUMP_ML_PER_SECOND },
    },
    ambientC: 22,
    auxRailVolts: 5.1,
    temperatureSensorNoiseC: 0.03,
    maxStepSeconds: 10,
    wiring: wiringFromMap(map, wiring),
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function mergeParams<T>(base: T, patch: DeepPartial<T> | undefined): T {
  if (patch === undefined) return base;
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    const cur = out[k];
    out[k] =
      v !== null && typeof v === "object" && !Array.isArray(v) && cur !== null && typeof cur === "object"
        ? mergeParams(cur, v as DeepPartial<typeof cur>)
        : v;
  }
  return out as T;
}
