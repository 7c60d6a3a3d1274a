/**
 * The active stirring calibration (the original's `simple_stirring`: x = duty cycle %, y = RPM)
 * and the RPM → duty-cycle lookup the stirring job derives from it.
 *
 * Files and the active choice are where OD calibrations live: the YAML file
 * `$DOT_PIOREACTOR/storage/calibrations/stirring/<name>.yaml`, chosen by the persistent cache
 * `active_calibrations` (device `stirring` → name).
 */
import fs from "node:fs";
import { type CurveData, closestToDomain, isEmptyCurve, solveCurve } from "../calibrations/curves";
import type { KeyValueCache } from "./local-storage";
import { CalibrationError, CalibrationFileMissingError, calibrationCurve, calibrationFile, numbers, parseCalibrationDocument } from "./od-reading-calibration";

export const STIRRING_DEVICE = "stirring";

export interface StirringCalibration {
  calibrationName: string;
  /** "RPM" for a stirring calibration; anything else is the wrong kind of file. */
  yLabel: string;
  curve: CurveData;
  recordedX: number[];
}

export function parseStirringCalibration(text: string, file: string): StirringCalibration {
  const doc = parseCalibrationDocument(text, file);
  const curve = calibrationCurve(doc, file);
  const recordedX = numbers(((doc.recorded_data ?? {}) as { x?: unknown }).x ?? [], "recorded_data.x", file);
  return {
    calibrationName: String(doc.calibration_name ?? ""),
    yLabel: String(doc.y ?? "RPM"),
    curve,
    recordedX,
  };
}

/** The active stirring calibration, or undefined when none is active; an active one whose file is gone is an error naming the fix. */
export function loadActiveStirringCalibration(activeCalibrations: KeyValueCache, calibrationsDir: string): StirringCalibration | undefined {
  const name = activeCalibrations.getString(STIRRING_DEVICE);
  if (name === undefined) return undefined;
  const file = calibrationFile(calibrationsDir, STIRRING_DEVICE, name);
  if (!fs.existsSync(file)) {
    throw new CalibrationFileMissingError(
      `Calibration ${name} is active for ${STIRRING_DEVICE} but its file ${file} does not exist. ` +
        `See the available ones with \`pio calibrations list --device ${STIRRING_DEVICE}\`, or create one with \`pio calibrations run --device ${STIRRING_DEVICE}\`.`,
    );
  }
  const cal = parseStirringCalibration(fs.readFileSync(file, "utf8"), file);
  return { ...cal, calibrationName: cal.calibrationName || name };
}

const round10 = (x: number) => Math.round(x * 1e10) / 1e10;

/**
 * Duty cycle for an RPM: the original's `y_to_x` without bounds enforcement: the only solution,
 * or among several the one inside (else nearest to) the recorded duty cycles.
 */
export function dutyCycleForRpm(cal: StirringCalibration, rpm: number): number {
  if (isEmptyCurve(cal.curve)) throw new CalibrationError(`calibration ${cal.calibrationName}'s curve_data_ is empty`);
  const solutions = solveCurve(cal.curve, rpm);
  if (solutions.length === 0) throw new CalibrationError(`No solutions found: calibration ${cal.calibrationName} never reaches ${rpm} RPM.`);
  if (solutions.length === 1) return round10(solutions[0]);
  const min = cal.recordedX.length ? Math.min(...cal.recordedX) : Number.NEGATIVE_INFINITY;
  const max = cal.recordedX.length ? Math.max(...cal.recordedX) : Number.POSITIVE_INFINITY;
  return round10(closestToDomain(solutions, min, max));
}

/**
 * The duty cycle to move to for a new target RPM, from the current estimate: 90 % of the way to
 * the calibration's prediction (conservative, so PID plus prediction does not overshoot), aimed
 * 5 % high (a stalled stir bar is worse than a fast one). The PID converges from there.
 */
export function adjustTowardsRpm(cal: StirringCalibration, currentEstimate: number, rpm: number): number {
  return 1.05 * (currentEstimate - 0.9 * (currentEstimate - dutyCycleForRpm(cal, rpm)));
}
