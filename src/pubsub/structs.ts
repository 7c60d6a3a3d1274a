/**
 * Strict decoders for the struct payloads on the wire (the original's `structs.py`, decoded there
 * with msgspec). Strictness matters: the original drops a row or ignores a message whose payload
 * msgspec rejects, and a TS unit must not accept what a Python leader would refuse (or the other
 * way round). The rules followed, as msgspec applies them:
 *   - every field without a default must be present; unknown fields are ignored;
 *   - a float field takes a JSON integer, an int field does not take a float, booleans are not numbers;
 *   - Literal fields take only their exact strings (`channel` "1".."4", `angle` "45"|"90"|"135"|"180",
 *     LED channel "A".."D");
 *   - datetimes are RFC 3339 strings that carry `Z` or an offset;
 *   - numeric bounds: raw `od` ≥ 0, `measured_rpm` ≥ 0, LED intensity 0–100;
 *   - `bytes` fields are base64 strings.
 * Each decoder returns `{ok: true, value}` or `{ok: false, error: "<field path>: <what was wrong>"}`.
 */

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** A payload as received (bytes) or as text. */
export type Payload = Buffer | Uint8Array | string;

// ---------------------------------------------------------------------------------------------
// Struct types (field order is the order the original encodes them in)

export type PdChannel = "1" | "2" | "3" | "4";
export type PdAngle = "45" | "90" | "135" | "180";
export type LedChannel = "A" | "B" | "C" | "D";

/**
 * A decoded datetime: the instant (truncated to milliseconds, as the original stores it) plus
 * the text it came from, for callers that must echo it unchanged.
 */
export interface WireDatetime {
  epochMs: number;
  text: string;
}

export interface MeasuredRPM {
  measured_rpm: number;
  timestamp: WireDatetime;
}
export interface GrowthRate {
  growth_rate: number;
  timestamp: WireDatetime;
}
export interface ODFiltered {
  od_filtered: number;
  timestamp: WireDatetime;
}
export interface ODFused {
  od_fused: number;
  timestamp: WireDatetime;
}
export interface Temperature {
  timestamp: WireDatetime;
  temperature: number;
}
export interface Voltage {
  timestamp: WireDatetime;
  voltage: number;
}
export interface RawODReading {
  calibrated: 0;
  timestamp: WireDatetime;
  angle: PdAngle;
  od: number;
  channel: PdChannel;
  ir_led_intensity: number;
}
export interface CalibratedODReading {
  calibrated: 1;
  timestamp: WireDatetime;
  angle: PdAngle;
  od: number;
  channel: PdChannel;
  ir_led_intensity: number;
  calibration_name: string;
}
export type ODReading = RawODReading | CalibratedODReading;
export interface ODReadings {
  timestamp: WireDatetime;
  ods: Partial<Record<PdChannel, ODReading>>;
}
export interface DosingEvent {
  /** mL; negative values are allowed. */
  volume_change: number;
  event: string;
  source_of_event: string | null;
  timestamp: WireDatetime;
}
export interface LEDChangeEvent {
  channel: LedChannel;
  intensity: number;
  source_of_event: string | null;
  timestamp: WireDatetime;
}
export interface AutomationEvent {
  /** The tag: the event's class name. */
  event_name: string;
  message: string | null;
  data: Record<string, unknown> | null;
}
export interface AutomationSettings {
  pioreactor_unit: string;
  experiment: string;
  started_at: WireDatetime;
  ended_at: WireDatetime | null;
  automation_name: string;
  /** Base64 of a JSON object (validated as base64; kept as the text that was sent). */
  settings: string;
}
export interface Log {
  message: string;
  level: string;
  task: string;
  source: string;
  timestamp: WireDatetime;
}
/** Removed from the original after 24.x; kept so old payloads still decode. */
export interface KalmanFilterOutput {
  state: number[];
  covariance_matrix: number[][];
  timestamp: WireDatetime;
}
/** `od_reading/relative_intensity_of_ir_led` (a plain JSON object in the original, not a Struct). */
export interface RelativeIntensityOfIrLed {
  relative_intensity_of_ir_led: number;
  timestamp: WireDatetime;
}

/** The original's `AutomationEvent` subclasses; plugins may add more (pass them to the decoder). */
export const AUTOMATION_EVENT_NAMES: readonly string[] = [
  "NoEvent",
  "DilutionEvent",
  "DosingStarted",
  "DosingStopped",
  "AddMediaEvent",
  "AddAltMediaEvent",
  "ChangedLedIntensity",
  "ErrorOccurred",
  "UpdatedHeaterDC",
];

// ---------------------------------------------------------------------------------------------
// Field decoders. They throw FieldError internally; the exported decoders turn that into a result.

class FieldError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

type Field<T> = (value: unknown, path: string) => T;
type JsonObject = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function fail(path: string, problem: string): never {
  throw new FieldError(path, problem);
}

const str: Field<string> = (v, path) => (typeof v === "string" ? v : fail(path, `expected a string, got ${describe(v)}`));

/** msgspec `float`: any JSON number, integers included; not a boolean, not a numeric string. */
function num(bounds: { ge?: number; le?: number } = {}): Field<number> {
  return (v, path) => {
    if (typeof v !== "number" || !Number.isFinite(v)) fail(path, `expected a number, got ${describe(v)}`);
    if (bounds.ge !== undefined && v < bounds.ge) fail(path, `expected a number >= ${bounds.ge}, got ${v}`);
    if (bounds.le !== undefined && v > bounds.le) fail(path, `expected a number <= ${bounds.le}, got ${v}`);
    return v;
  };
}

function literal<T extends string>(allowed: readonly T[]): Field<T> {
  return (v, path) => {
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    const quoted = allowed.map((a) => JSON.stringify(a)).join(", ");
    return fail(path, `expected one of ${quoted} (as a JSON string), got ${describe(v)}`);
  };
}

function nullable<T>(inner: Field<T>): Field<T | null> {
  return (v, path) => (v === null ? null : inner(v, path));
}

function listOf<T>(inner: Field<T>, maxLength?: number): Field<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) fail(path, `expected an array, got ${describe(v)}`);
    if (maxLength !== undefined && v.length > maxLength) fail(path, `expected at most ${maxLength} items, got ${v.length}`);
    return v.map((item, i) => inner(item, `${path}[${i}]`));
  };
}

const object: Field<JsonObject> = (v, path) =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : fail(path, `expected an object, got ${describe(v)}`);

/**
 * RFC 3339 with a mandatory zone, as msgspec parses `datetime` with `tz=True`. Parsed by hand:
 * `Date.parse` accepts many other shapes and rounds fractions instead of truncating them.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function parseDatetime(v: string, path: string): number {
  const m = RFC3339.exec(v);
  if (!m) fail(path, `expected an RFC 3339 datetime like 2026-01-01T00:00:00.000Z, got ${describe(v)}`);
  const [, y, mo, d, h, mi, s, frac, zulu, sign, oh, om] = m;
  if (!zulu && !sign) fail(path, `datetime has no timezone (needs Z or an offset like +00:00): ${JSON.stringify(v)}`);
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    fail(path, `not a valid date/time: ${JSON.stringify(v)}`);
  }
  const offsetMinutes = sign ? (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om)) : 0;
  if (sign && (Number(oh) > 23 || Number(om) > 59)) fail(path, `not a valid timezone offset: ${JSON.stringify(v)}`);
  const millis = frac ? Number(frac.padEnd(3, "0").slice(0, 3)) : 0;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

/**
 * The last text parsed and its instant. One reading's timestamp arrives in several payloads (the
 * readings, each channel's reading, the filtered OD, the growth rate) and is decoded by each
 * subscriber, so consecutive decodes mostly repeat the same text.
 */
let lastDatetime: { text: string; epochMs: number } | undefined;

const datetime: Field<WireDatetime> = (v, path) => {
  if (typeof v !== "string") fail(path, `expected an RFC 3339 datetime string, got ${describe(v)}`);
  if (lastDatetime?.text !== v) lastDatetime = { text: v, epochMs: parseDatetime(v, path) };
  return { epochMs: lastDatetime.epochMs, text: v };
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const base64: Field<string> = (v, path) => {
  const s = str(v, path);
  return BASE64.test(s) ? s : fail(path, "expected base64-encoded bytes");
};

/** The fields of one struct: name → decoder, in the original's field order. */
type Shape<T> = { [K in keyof T]: Field<T[K]> };

/** Decodes a JSON object field by field; `defaults` holds the values of fields that may be absent. */
function struct<T>(shape: Shape<T>, defaults: Partial<T> = {}): Field<T> {
  const keys = Object.keys(shape) as Array<keyof T & string>;
  return (v, path) => {
    const o = object(v, path);
    const out = {} as T;
    for (const key of keys) {
      const fieldPath = path ? `${path}.${key}` : key;
      if (!(key in o)) {
        if (key in defaults) {
          out[key] = defaults[key] as T[typeof key];
          continue;
        }
        fail(fieldPath, "required field is missing");
      }
      out[key] = shape[key](o[key], fieldPath);
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Struct decoders

const measuredRpm = struct<MeasuredRPM>({ measured_rpm: num({ ge: 0 }), timestamp: datetime });
const growthRate = struct<GrowthRate>({ growth_rate: num(), timestamp: datetime });
const odFiltered = struct<ODFiltered>({ od_filtered: num(), timestamp: datetime });
const odFused = struct<ODFused>({ od_fused: num(), timestamp: datetime });
const temperature = struct<Temperature>({ timestamp: datetime, temperature: num() });
const voltage = struct<Voltage>({ timestamp: datetime, voltage: num() });

const PD_CHANNELS: readonly PdChannel[] = ["1", "2", "3", "4"];
const PD_ANGLES: readonly PdAngle[] = ["45", "90", "135", "180"];
const LED_CHANNELS: readonly LedChannel[] = ["A", "B", "C", "D"];

/** A struct tag decoded on its own struct: may be absent, must match when present (as msgspec). */
function tag<T extends number>(expected: T): Field<T> {
  return (v, path) => (v === expected ? expected : fail(path, `expected ${expected}, got ${describe(v)}`));
}

const rawOdReadingFields = {
  calibrated: tag(0),
  timestamp: datetime,
  angle: literal(PD_ANGLES),
  od: num({ ge: 0 }),
  channel: literal(PD_CHANNELS),
  ir_led_intensity: num(),
};
const rawOdReading = struct<RawODReading>(rawOdReadingFields, { calibrated: 0 });
const calibratedOdReading = struct<CalibratedODReading>(
  { ...rawOdReadingFields, calibrated: tag(1), od: num(), calibration_name: str },
  { calibrated: 1 },
);

/** Tagged union on `calibrated` (0 raw, 1 calibrated); the tag may sit anywhere in the object. */
const odReading: Field<ODReading> = (v, path) => {
  const o = object(v, path);
  const tagPath = path ? `${path}.calibrated` : "calibrated";
  if (!("calibrated" in o)) fail(tagPath, "required field is missing");
  if (o.calibrated === 0) return rawOdReading(o, path);
  if (o.calibrated === 1) return calibratedOdReading(o, path);
  return fail(tagPath, `expected 0 (raw) or 1 (calibrated), got ${describe(o.calibrated)}`);
};

const odReadings: Field<ODReadings> = (v, path) => {
  const o = object(v, path);
  const timestamp = o.timestamp === undefined ? fail("timestamp", "required field is missing") : datetime(o.timestamp, "timestamp");
  if (!("ods" in o)) fail("ods", "required field is missing");
  const ods: Partial<Record<PdChannel, ODReading>> = {};
  for (const [channel, reading] of Object.entries(object(o.ods, "ods"))) {
    const key = literal(PD_CHANNELS)(channel, `ods[${JSON.stringify(channel)}]`);
    ods[key] = odReading(reading, `ods.${channel}`);
  }
  return { timestamp, ods };
};

const dosingEvent = struct<DosingEvent>({
  volume_change: num(),
  event: str,
  source_of_event: nullable(str),
  timestamp: datetime,
});

const ledChangeEvent = struct<LEDChangeEvent>({
  channel: literal(LED_CHANNELS),
  intensity: num({ ge: 0, le: 100 }),
  source_of_event: nullable(str),
  timestamp: datetime,
});

function automationEvent(extraEventNames: readonly string[]): Field<AutomationEvent> {
  const known = new Set([...AUTOMATION_EVENT_NAMES, ...extraEventNames]);
  const body = struct<Omit<AutomationEvent, "event_name">>(
    { message: nullable(str), data: nullable(object) },
    { message: null, data: null },
  );
  return (v, path) => {
    const o = object(v, path);
    if (!("event_name" in o)) fail("event_name", "required field is missing");
    const name = str(o.event_name, "event_name");
    if (!known.has(name)) fail("event_name", `unknown automation event ${JSON.stringify(name)}`);
    return { event_name: name, ...body(o, path) };
  };
}

const automationSettings = struct<AutomationSettings>({
  pioreactor_unit: str,
  experiment: str,
  started_at: datetime,
  ended_at: nullable(datetime),
  automation_name: str,
  settings: base64,
});

const log = struct<Log>({ message: str, level: str, task: str, source: str, timestamp: datetime });

const kalmanFilterOutput = struct<KalmanFilterOutput>({
  state: listOf(num(), 3),
  covariance_matrix: listOf(listOf(num())),
  timestamp: datetime,
});

const relativeIntensityOfIrLed = struct<RelativeIntensityOfIrLed>({
  relative_intensity_of_ir_led: num(),
  timestamp: datetime,
});

// ---------------------------------------------------------------------------------------------
// Entry points

function payloadText(payload: Payload): string {
  if (typeof payload === "string") return payload;
  // A view, not Buffer.from(payload), which copies every payload before decoding it.
  return Buffer.isBuffer(payload) ? payload.toString("utf8") : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
}

/** Parses JSON and applies a field decoder, turning any failure into `{ok: false, error}`. */
export function decodeWith<T>(decoder: Field<T>, payload: Payload): Decoded<T> {
  let json: unknown;
  try {
    json = JSON.parse(payloadText(payload));
  } catch {
    return { ok: false, error: "payload: not valid JSON" };
  }
  try {
    return { ok: true, value: decoder(json, "") };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, error: `${err.path || "payload"}: ${err.problem}` };
    throw err;
  }
}

/**
 * `decodeWith` for one struct, answering a repeat of the payload it last decoded with the same
 * result. On one bus every subscriber gets the same payload object: a unit's growth-rate job and
 * its three automations each decode every `ods` message, and the fourth decode costs nothing.
 * Callers share the result, so they must never change it (none does: they read fields).
 */
function sharedDecoder<T>(decoder: Field<T>): (payload: Payload) => Decoded<T> {
  let lastPayload: Payload | undefined;
  let last: Decoded<T> | undefined;
  return (payload) => {
    // Identity for buffers (a new message is a new buffer); strings compare by content anyway.
    if (payload === lastPayload && last !== undefined) return last;
    last = decodeWith(decoder, payload);
    lastPayload = payload;
    return last;
  };
}

export const decodeMeasuredRPM = sharedDecoder(measuredRpm);
export const decodeGrowthRate = sharedDecoder(growthRate);
export const decodeODFiltered = sharedDecoder(odFiltered);
export const decodeODFused = sharedDecoder(odFused);
export const decodeTemperature = sharedDecoder(temperature);
export const decodeVoltage = sharedDecoder(voltage);
export const decodeRawODReading = sharedDecoder(rawOdReading);
export const decodeCalibratedODReading = sharedDecoder(calibratedOdReading);
export const decodeODReading = sharedDecoder(odReading);
export const decodeODReadings = sharedDecoder(odReadings);
export const decodeDosingEvent = sharedDecoder(dosingEvent);
export const decodeLEDChangeEvent = sharedDecoder(ledChangeEvent);
export const decodeAutomationSettings = sharedDecoder(automationSettings);
export const decodeLog = sharedDecoder(log);
export const decodeKalmanFilterOutput = sharedDecoder(kalmanFilterOutput);
export const decodeRelativeIntensityOfIrLed = sharedDecoder(relativeIntensityOfIrLed);

/** `extraEventNames`: tags of plugin-defined events the caller knows about. */
export function decodeAutomationEvent(p: Payload, extraEventNames: readonly string[] = []): Decoded<AutomationEvent> {
  return decodeWith(automationEvent(extraEventNames), p);
}

/** The JSON object inside `AutomationSettings.settings`. */
export function decodeAutomationSettingsJson(settings: string): Decoded<Record<string, unknown>> {
  return decodeWith(object, Buffer.from(settings, "base64"));
}
