/**
 * What turns raw OD readings into the numbers OD reading publishes, after the REF normalisation:
 *  - a per-experiment blank (persistent cache `od_blank`, written by `pio run od_blank`), subtracted;
 *  - an active OD calibration per angle (`od45`, `od90`, `od135`, `od`), mapping volts to OD by
 *    inverting the calibration curve within its recorded range.
 *
 * Calibrations are the original's YAML files under `$DOT_PIOREACTOR/storage/calibrations/<device>/`;
 * which one is active is in the persistent cache `active_calibrations` (device → name).
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { type CurveData, CurveDataError, isEmptyCurve, parseCurveData, solveCurve } from "../calibrations/curves";
import type { PdAngle, PdChannel } from "../pubsub/structs";
import { PyInt } from "../util/python-format";
import type { KeyValueCache } from "./local-storage";
import type { Logger } from "./logger";

/** An OD reading as published (field order is the wire order). */
export interface RawOdReadingPayload {
  calibrated: 0;
  timestamp: string;
  angle: PdAngle;
  od: number;
  channel: PdChannel;
  ir_led_intensity: number;
}
export interface CalibratedOdReadingPayload {
  calibrated: 1;
  timestamp: string;
  angle: PdAngle;
  od: number;
  channel: PdChannel;
  ir_led_intensity: number;
  calibration_name: string;
}
export type OdReadingPayload = RawOdReadingPayload | CalibratedOdReadingPayload;
export interface OdReadingsPayload {
  timestamp: string;
  /** Channels as keys ("1".."4"; JavaScript keeps such keys ascending, the order configs list them in). */
  ods: Partial<Record<PdChannel, OdReadingPayload>>;
}

export class CalibrationError extends Error {
  override name = "CalibrationError";
}

/** A calibration is marked active but its file is gone (deleted, or copied from another unit without it). */
export class CalibrationFileMissingError extends CalibrationError {
  override name = "CalibrationFileMissingError";
}

export interface OdCalibration {
  calibrationName: string;
  device: string;
  pdChannel: PdChannel;
  irLedIntensity: number;
  yLabel: string;
  curve: CurveData;
  recorded: { x: number[]; y: number[] };
}

// ---------------------------------------------------------------- blank

/** Reads `od_blank[experiment]` (JSON `{channel: mean}`); undefined when there is none. */
export function loadOdBlank(cache: KeyValueCache, experiment: string): Map<PdChannel, number> | undefined {
  const text = cache.getString(experiment);
  if (!text) return undefined;
  const parsed = JSON.parse(text) as Record<string, number>;
  if (Object.keys(parsed).length === 0) return undefined;
  return new Map(Object.entries(parsed).map(([c, v]) => [c as PdChannel, Number(v)]));
}

export function subtractBlank(readings: OdReadingsPayload, blank: ReadonlyMap<PdChannel, number> | undefined): OdReadingsPayload {
  if (!blank) return readings;
  const ods: Partial<Record<PdChannel, OdReadingPayload>> = {};
  for (const [channel, r] of odEntries(readings)) {
    ods[channel] = {
      calibrated: 0,
      timestamp: r.timestamp,
      angle: r.angle,
      od: r.od - (blank.get(channel) ?? 0),
      channel: r.channel,
      ir_led_intensity: r.ir_led_intensity,
    };
  }
  return { timestamp: readings.timestamp, ods };
}

/**
 * The object to encode for the wire: the `calibrated` tag is a Python int (`0`, not `0.0`), which
 * a plain JavaScript number would not print as.
 */
export function wireReading(r: OdReadingPayload): Record<string, unknown> {
  // PyInt is immutable: the two tags are shared rather than made per reading.
  const tag: number = r.calibrated;
  return { ...r, calibrated: tag === 0 ? PY_ZERO : tag === 1 ? PY_ONE : new PyInt(tag) };
}

const PY_ZERO = new PyInt(0);
const PY_ONE = new PyInt(1);

export function wireReadings(rs: OdReadingsPayload): { timestamp: string; ods: Record<string, Record<string, unknown>> } {
  const ods: Record<string, Record<string, unknown>> = {};
  for (const c of PD_CHANNELS) if (Object.hasOwn(rs.ods, c)) ods[c] = wireReading(rs.ods[c]!);
  return { timestamp: rs.timestamp, ods };
}

const PD_CHANNELS: readonly PdChannel[] = ["1", "2", "3", "4"];

/**
 * The readings of an `ods` object as [channel, reading] pairs, in channel order (the order
 * `Object.entries` gives such keys). Looked up channel by channel: `Object.entries` on these
 * integer-like keys was ~1 % of a simulated run, called several times per reading.
 */
export function odEntries(readings: OdReadingsPayload): Array<[PdChannel, OdReadingPayload]> {
  const out: Array<[PdChannel, OdReadingPayload]> = [];
  for (const c of PD_CHANNELS) if (Object.hasOwn(readings.ods, c)) out.push([c, readings.ods[c]!]);
  return out;
}

// ---------------------------------------------------------------- loading calibrations

/** Path components must not escape the calibrations folder. */
function safeComponent(text: string, what: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(text) || text === "." || text === "..") {
    throw new CalibrationError(`Invalid ${what} ${JSON.stringify(text)}: use letters, digits, '.', '_' and '-'.`);
  }
  return text;
}

export function calibrationFile(calibrationsDir: string, device: string, name: string): string {
  return path.join(calibrationsDir, safeComponent(device, "device"), `${safeComponent(name, "calibration_name")}.yaml`);
}

/** A calibration file's YAML mapping; errors name the file. */
export function parseCalibrationDocument(text: string, file: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = YAML.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new CalibrationError(`${file} is not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object") throw new CalibrationError(`${file} is empty.`);
  return doc;
}

/** The file's `curve_data_` (poly, spline or akima), checked. */
export function calibrationCurve(doc: Record<string, unknown>, file: string): CurveData {
  if (doc.curve_data_ === undefined) throw new CalibrationError(`${file}: curve_data_ with a type is required.`);
  try {
    return parseCurveData(doc.curve_data_, file);
  } catch (e) {
    if (e instanceof CurveDataError) throw new CalibrationError(e.message);
    throw e;
  }
}

export function numbers(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number")) {
    throw new CalibrationError(`${file}: ${what} must be a list of numbers.`);
  }
  return v as number[];
}

export function parseOdCalibration(text: string, device: string, file: string): OdCalibration {
  const doc = parseCalibrationDocument(text, file);
  const recorded = (doc.recorded_data ?? {}) as { x?: unknown; y?: unknown };
  const channel = String(doc.pd_channel ?? "");
  if (!["1", "2", "3", "4"].includes(channel)) throw new CalibrationError(`${file}: pd_channel must be 1, 2, 3 or 4.`);
  const curve = calibrationCurve(doc, file);
  return {
    calibrationName: String(doc.calibration_name ?? path.basename(file, ".yaml")),
    device,
    pdChannel: channel as PdChannel,
    irLedIntensity: Number(doc.ir_led_intensity),
    yLabel: String(doc.y ?? ""),
    curve,
    recorded: { x: numbers(recorded.x ?? [], "recorded_data.x", file), y: numbers(recorded.y ?? [], "recorded_data.y", file) },
  };
}

/**
 * The active calibration for `device`, or undefined when none is active. An active calibration
 * whose file is missing is an error that names the file and how to fix it.
 */
export function loadActiveOdCalibration(
  device: string,
  activeCalibrations: KeyValueCache,
  calibrationsDir: string,
): OdCalibration | undefined {
  const name = activeCalibrations.getString(device);
  if (name === undefined) return undefined;
  const file = calibrationFile(calibrationsDir, device, name);
  if (!fs.existsSync(file)) {
    throw new CalibrationFileMissingError(
      `Calibration ${name} is active for ${device} but its file ${file} does not exist. ` +
        `See the available ones with \`pio calibrations list --device ${device}\`, then choose one with ` +
        `\`pio calibrations set-active --device ${device} --name <name>\` or create one with \`pio calibrations run --device ${device}\`.`,
    );
  }
  const text = fs.readFileSync(file, "utf8");
  if (text.trim() === "") throw new CalibrationFileMissingError(`Calibration ${name} is empty: ${file}`);
  return parseOdCalibration(text, device, file);
}

// ---------------------------------------------------------------- inverting the curve

export { realPolynomialRoots } from "../calibrations/polynomial";

class SolutionOutOfDomainError extends Error {
  constructor(readonly side: "below" | "above" | "none") {
    super(side === "none" ? "No solutions found" : `Solution ${side} domain`);
  }
}

const round10 = (x: number) => Math.round(x * 1e10) / 1e10;

/** x (OD) for an observed y (volts), inside the recorded OD range; throws which side it fell off. */
export function inverseWithinDomain(cal: OdCalibration, y: number): number {
  if (isEmptyCurve(cal.curve)) throw new SolutionOutOfDomainError("none");
  const solutions = solveCurve(cal.curve, y);
  const minX = cal.recorded.x.length ? Math.min(...cal.recorded.x) : Number.NEGATIVE_INFINITY;
  const maxX = cal.recorded.x.length ? Math.max(...cal.recorded.x) : Number.POSITIVE_INFINITY;
  if (solutions.length === 0) throw new SolutionOutOfDomainError("none");
  const inside = solutions.find((s) => s >= minX && s <= maxX);
  if (inside !== undefined) return round10(inside);
  // Floating-point noise can put a true boundary root a hair outside.
  for (const s of solutions) {
    if (s < minX && minX - s <= 1e-12) return round10(minX);
    if (s > maxX && s - maxX <= 1e-12) return round10(maxX);
  }
  let closest = solutions[0];
  for (const s of solutions) {
    const d = Math.min(Math.abs(s - minX), Math.abs(s - maxX));
    if (d < Math.min(Math.abs(closest - minX), Math.abs(closest - maxX))) closest = s;
  }
  throw new SolutionOutOfDomainError(closest < minX ? "below" : "above");
}

/** Maps volts to OD with one calibration, clamping to the recorded extremes outside its range. */
export class CalibratedChannel {
  private readonly minVoltage: number;
  private readonly maxVoltage: number;
  private readonly odAtMinVoltage: number;
  private readonly odAtMaxVoltage: number;
  private readonly minOd: number;
  private readonly maxOd: number;

  constructor(
    readonly calibration: OdCalibration,
    private readonly shouldWarn: () => boolean,
    private readonly logger: Logger,
  ) {
    const { x, y } = calibration.recorded;
    if (x.length && y.length) {
      this.minOd = Math.min(...x);
      this.maxOd = Math.max(...x);
      let iMin = 0;
      let iMax = 0;
      for (let i = 1; i < y.length; i++) {
        if (y[i] < y[iMin]) iMin = i;
        if (y[i] > y[iMax]) iMax = i;
      }
      this.minVoltage = y[iMin];
      this.maxVoltage = y[iMax];
      this.odAtMinVoltage = x[iMin];
      this.odAtMaxVoltage = x[iMax];
    } else {
      this.minOd = 0;
      this.maxOd = 100_000;
      this.minVoltage = 0;
      this.maxVoltage = 100_000;
      this.odAtMinVoltage = 0;
      this.odAtMaxVoltage = 100_000;
    }
  }

  verify(reading: OdReadingPayload): void {
    if (reading.ir_led_intensity !== this.calibration.irLedIntensity) {
      throw new CalibrationError(
        `IR LED intensity ${reading.ir_led_intensity} does not match calibration ${this.calibration.irLedIntensity} for channel ${reading.channel}.`,
      );
    }
  }

  toOd(volts: number): number {
    try {
      return inverseWithinDomain(this.calibration, volts);
    } catch (e) {
      if (!(e instanceof SolutionOutOfDomainError)) throw e;
      if (this.shouldWarn()) {
        const range = `Calibrated for OD=[${g3(this.minOd)}, ${g3(this.maxOd)}], V=[${g3(this.minVoltage)}, ${g3(this.maxVoltage)}]. Observed ${volts.toFixed(3)}V, which would map outside the allowed values.`;
        if (e.side === "none") this.logger.warning(`No solution found for calibrated signal. Trimming signal. ${range}`);
        else if (e.side === "below")
          this.logger.warning(`Signal ${volts <= this.minVoltage ? "below" : "outside of"} suggested calibration range. Trimming signal. ${range}`);
        else this.logger.warning(`Signal ${volts >= this.maxVoltage ? "above" : "outside of"} suggested calibration range. Trimming signal. ${range}`);
      }
      if (volts <= this.minVoltage) return this.odAtMinVoltage;
      if (volts >= this.maxVoltage) return this.odAtMaxVoltage;
      return Math.abs(volts - this.minVoltage) < Math.abs(volts - this.maxVoltage) ? this.odAtMinVoltage : this.odAtMaxVoltage;
    }
  }
}

function g3(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

/** Applies the calibrations to the channels that have one; others pass through raw. */
export class CalibrationTransformer {
  readonly channels = new Map<PdChannel, CalibratedChannel>();
  private lastBoundWarningMs: number | undefined;

  constructor(
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  add(calibration: OdCalibration): void {
    if (this.channels.has(calibration.pdChannel)) {
      throw new CalibrationError(`Calibration model for channel ${calibration.pdChannel} already hydrated.`);
    }
    if (calibration.yLabel !== "Voltage") {
      throw new CalibrationError(`Calibration ${calibration.calibrationName} has wrong type.`);
    }
    const curve = calibration.curve;
    const higher = curve.type === "poly" ? curve.coefficients.slice(0, -1) : [];
    if (curve.type === "poly" && (higher.length === 0 || higher.every((c) => c === 0))) {
      this.logger.warning(
        "Calibration curve is y(x)=constant. This is probably wrong. Check the calibration YAML file's curve_data_.",
      );
    }
    this.channels.set(calibration.pdChannel, new CalibratedChannel(calibration, () => this.shouldWarnAboutBounds(), this.logger));
  }

  get active(): boolean {
    return this.channels.size > 0;
  }

  /** At most one out-of-range warning every 5 minutes. */
  private shouldWarnAboutBounds(): boolean {
    const now = this.now();
    if (this.lastBoundWarningMs === undefined || now - this.lastBoundWarningMs > 300_000) {
      this.lastBoundWarningMs = now;
      return true;
    }
    return false;
  }

  apply(readings: OdReadingsPayload): OdReadingsPayload {
    const ods: Partial<Record<PdChannel, OdReadingPayload>> = {};
    for (const channel of PD_CHANNELS) {
      if (!Object.hasOwn(readings.ods, channel)) continue;
      const raw = readings.ods[channel]!;
      const model = this.channels.get(channel);
      if (!model) {
        ods[channel] = raw;
        continue;
      }
      model.verify(raw);
      ods[channel] = {
        calibrated: 1,
        timestamp: raw.timestamp,
        angle: raw.angle,
        od: model.toOd(raw.od),
        channel: raw.channel,
        ir_led_intensity: raw.ir_led_intensity,
        calibration_name: model.calibration.calibrationName,
      };
    }
    return { timestamp: readings.timestamp, ods };
  }
}
