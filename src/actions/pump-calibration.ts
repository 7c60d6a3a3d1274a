/**
 * Pump calibrations (`simple_peristaltic_pump`): the PWM frequency and duty cycle the pump was
 * calibrated at, and a polynomial volume(seconds). Active calibrations are named in the
 * persistent `active_calibrations` cache and stored as YAML under
 * `<DOT_PIOREACTOR>/storage/calibrations/<device>/<name>.yaml`, as in the original.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import type { KeyValueCache } from "../jobs/local-storage";

export type PumpDevice = "media_pump" | "alt_media_pump" | "waste_pump";
export const PUMP_DEVICES: readonly PumpDevice[] = ["media_pump", "alt_media_pump", "waste_pump"];

export const DEFAULT_PUMP_CALIBRATION_NAME = "__default_pump_calibration";

export interface PumpCalibration {
  calibrationName: string;
  hz: number;
  dc: number;
  /** Polynomial mL(seconds), highest power first. */
  coefficients: number[];
  /** Seconds recorded while calibrating; picks the meaningful root when inverting. */
  recordedSeconds: number[];
}

export class CalibrationError extends Error {
  override name = "CalibrationError";
}

/** Used when no calibration is active: 0.0911 mL/s at 100 % (5 mL/s in testing mode, like the simulator's pumps). */
export function defaultPumpCalibration(testing: boolean): PumpCalibration {
  return {
    calibrationName: DEFAULT_PUMP_CALIBRATION_NAME,
    hz: 250,
    dc: 100,
    coefficients: [testing ? 5.0 : 0.0911, 0],
    recordedSeconds: [],
  };
}

export function isDefaultCalibration(cal: PumpCalibration): boolean {
  return cal.calibrationName === DEFAULT_PUMP_CALIBRATION_NAME;
}

export function durationToMl(cal: PumpCalibration, seconds: number): number {
  return cal.coefficients.reduce((acc, c) => acc * seconds + c, 0);
}

/**
 * Seconds needed to move `ml`: the real root of volume(t) − ml. A line is inverted exactly;
 * higher degrees are solved by bisection over the calibrated range (widened until it brackets
 * the root), which is the root closest to the recorded data for a monotone pump curve.
 */
export function mlToDuration(cal: PumpCalibration, ml: number): number {
  const c = cal.coefficients;
  if (c.length === 2) {
    if (c[0] <= 0) throw new CalibrationError(`Calibration ${cal.calibrationName} has a non-positive flow rate.`);
    return (ml - c[1]) / c[0];
  }
  const f = (t: number) => durationToMl(cal, t) - ml;
  let lo = 0;
  let hi = Math.max(1, ...cal.recordedSeconds);
  for (let i = 0; i < 60 && f(hi) < 0; i++) hi *= 2;
  if (f(lo) > 0 || f(hi) < 0) throw new CalibrationError(`Calibration ${cal.calibrationName} cannot deliver ${ml} mL.`);
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** mL per second at the calibrated duty cycle (for circulation ratios). */
export function mlPerSecond(cal: PumpCalibration): number {
  return durationToMl(cal, 1);
}

export interface PumpCalibrationSource {
  /** The active calibration for `device`, or undefined when none is set. */
  active(device: PumpDevice): PumpCalibration | undefined;
}

/** Reads active calibrations the way the original stores them. */
export class FilePumpCalibrations implements PumpCalibrationSource {
  constructor(
    private readonly activeCalibrations: KeyValueCache,
    private readonly calibrationsDir: string,
  ) {}

  active(device: PumpDevice): PumpCalibration | undefined {
    const name = this.activeCalibrations.getString(device);
    if (!name) return undefined;
    const file = path.join(this.calibrationsDir, device, `${name}.yaml`);
    if (!fs.existsSync(file)) {
      throw new CalibrationError(
        `Active calibration ${name} for ${device} is missing: expected ${file}. Re-run \`pio calibrations run --device ${device}\` or choose another with \`pio calibrations set-active\`.`,
      );
    }
    return parsePumpCalibrationYaml(fs.readFileSync(file, "utf8"), file);
  }
}

export function parsePumpCalibrationYaml(text: string, where = "calibration"): PumpCalibration {
  const doc = YAML.parse(text) as Record<string, unknown> | null;
  const curve = (doc?.curve_data_ ?? {}) as { type?: string; coefficients?: unknown };
  if (doc?.calibration_type !== "simple_peristaltic_pump" || curve.type !== "poly" || !Array.isArray(curve.coefficients)) {
    throw new CalibrationError(`${where} is not a simple_peristaltic_pump calibration with a poly curve.`);
  }
  const recorded = (doc.recorded_data ?? {}) as { x?: unknown };
  return {
    calibrationName: String(doc.calibration_name),
    hz: Number(doc.hz),
    dc: Number(doc.dc),
    coefficients: curve.coefficients.map(Number),
    recordedSeconds: Array.isArray(recorded.x) ? recorded.x.map(Number) : [],
  };
}

/** A calibration fixed in code (tests, the simulator, plugins). */
export class StaticPumpCalibrations implements PumpCalibrationSource {
  constructor(private readonly byDevice: Partial<Record<PumpDevice, PumpCalibration>>) {}
  active(device: PumpDevice): PumpCalibration | undefined {
    return this.byDevice[device];
  }
}

/** A linear calibration: `mlPerSecondAtDc` at duty cycle `dc`. */
export function linearPumpCalibration(name: string, mlPerSecondAtDc: number, dc = 100, hz = 250): PumpCalibration {
  return { calibrationName: name, hz, dc, coefficients: [mlPerSecondAtDc, 0], recordedSeconds: [] };
}
