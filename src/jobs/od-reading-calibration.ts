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
  curve: { type: string; coefficients: number[] };
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
  return { ...r, calibrated: new PyInt(r.calibrated) };
}

export function wireReadings(rs: OdReadingsPayload): Record<string, unknown> {
  return {
    timestamp: rs.timestamp,
    ods: Object.fromEntries(odEntries(rs).map(([c, r]) => [c, wireReading(r)])),
  };
}

/** The readings of an `ods` object as [channel, reading] pairs. */
export function odEntries(readings: OdReadingsPayload): Array<[PdChannel, OdReadingPayload]> {
  return Object.entries(readings.ods) as Array<[PdChannel, OdReadingPayload]>;
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

function numbers(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number")) {
    throw new CalibrationError(`${file}: ${what} must be a list of numbers.`);
  }
  return v as number[];
}

export function parseOdCalibration(text: string, device: string, file: string): OdCalibration {
  let doc: Record<string, unknown>;
  try {
    doc = YAML.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new CalibrationError(`${file} is not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object") throw new CalibrationError(`${file} is empty.`);
  const curve = doc.curve_data_ as { type?: unknown; coefficients?: unknown } | undefined;
  const recorded = (doc.recorded_data ?? {}) as { x?: unknown; y?: unknown };
  const channel = String(doc.pd_channel ?? "");
  if (!["1", "2", "3", "4"].includes(channel)) throw new CalibrationError(`${file}: pd_channel must be 1, 2, 3 or 4.`);
  if (!curve || typeof curve.type !== "string") throw new CalibrationError(`${file}: curve_data_ with a type is required.`);
  return {
    calibrationName: String(doc.calibration_name ?? path.basename(file, ".yaml")),
    device,
    pdChannel: channel as PdChannel,
    irLedIntensity: Number(doc.ir_led_intensity),
    yLabel: String(doc.y ?? ""),
    curve: { type: curve.type, coefficients: numbers(curve.coefficients ?? [], "curve_data_.coefficients", file) },
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

class SolutionOutOfDomainError extends Error {
  constructor(readonly side: "below" | "above" | "none") {
    super(side === "none" ? "No solutions found" : `Solution ${side} domain`);
  }
}

function polyEval(coefficients: readonly number[], x: number): number {
  let y = 0;
  for (const c of coefficients) y = y * x + c;
  return y;
}

function derivative(coefficients: readonly number[]): number[] {
  const n = coefficients.length - 1;
  return coefficients.slice(0, -1).map((c, i) => c * (n - i));
}

/**
 * Real roots of a polynomial (highest degree first), sorted. Roots are separated by the roots of
 * the derivative, so each monotone stretch between them is bisected; a touching root at an
 * extremum is caught by its near-zero value.
 */
export function realPolynomialRoots(coefficients: readonly number[]): number[] {
  let c = [...coefficients];
  while (c.length > 0 && c[0] === 0) c = c.slice(1);
  if (c.length <= 1) return [];
  if (c.length === 2) return [-c[1] / c[0]];
  const bound = 1 + Math.max(...c.slice(1).map((x) => Math.abs(x / c[0])));
  const critical = realPolynomialRoots(derivative(c)).filter((x) => x > -bound && x < bound);
  const edges = [-bound, ...critical, bound];
  const roots: number[] = [];
  const scale = Math.max(...c.map(Math.abs));
  for (let i = 0; i < edges.length - 1; i++) {
    let lo = edges[i];
    let hi = edges[i + 1];
    let flo = polyEval(c, lo);
    const fhi = polyEval(c, hi);
    if (Math.abs(flo) <= 1e-12 * scale) {
      roots.push(lo);
      continue;
    }
    if (flo * fhi > 0) continue;
    for (let k = 0; k < 200 && hi - lo > 1e-15 * Math.max(1, Math.abs(lo)); k++) {
      const mid = (lo + hi) / 2;
      const fmid = polyEval(c, mid);
      if (flo * fmid <= 0) hi = mid;
      else {
        lo = mid;
        flo = fmid;
      }
    }
    roots.push((lo + hi) / 2);
  }
  if (Math.abs(polyEval(c, bound)) <= 1e-12 * scale) roots.push(bound);
  const unique = roots.sort((a, b) => a - b).filter((r, i, a) => i === 0 || Math.abs(r - a[i - 1]) > 1e-12);
  return unique;
}

const round10 = (x: number) => Math.round(x * 1e10) / 1e10;

/** x (OD) for an observed y (volts), inside the recorded OD range; throws which side it fell off. */
export function inverseWithinDomain(cal: OdCalibration, y: number): number {
  if (cal.curve.type !== "poly") {
    throw new CalibrationError(
      `Calibration ${cal.calibrationName} uses a ${cal.curve.type} curve, which this version cannot invert yet; re-fit it as a polynomial with \`pio calibrations run --device ${cal.device}\`.`,
    );
  }
  if (cal.curve.coefficients.length === 0) throw new SolutionOutOfDomainError("none");
  const shifted = [...cal.curve.coefficients];
  shifted[shifted.length - 1] -= y;
  const solutions = realPolynomialRoots(shifted);
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
    const higher = calibration.curve.coefficients.slice(0, -1);
    if (calibration.curve.type === "poly" && (higher.length === 0 || higher.every((c) => c === 0))) {
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
    for (const [channel, raw] of odEntries(readings)) {
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
