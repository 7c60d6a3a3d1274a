/**
 * Setting payloads, byte for byte as the original puts them on the wire and reads them back.
 *
 * The original publishes `str(value)` for str/int/float/bool (so `True`, `500.0`, `100`),
 * msgspec JSON for dicts and structs, and a zero-length payload for `None` (which, retained,
 * deletes the retained value). JavaScript has one number type, so the *datatype* decides how a
 * plain number prints; a `PyInt` forces integer text where Python held an int in a float setting
 * (`duty_cycle 100` right before `duty_cycle 30.0`).
 */
import { formatPyBool, formatPyFloat, formatPyInt, PyInt } from "../util/python-format";
import { encodeMsgspecJson } from "./msgspec-json";
import { PythonValueError, pythonFloat, pythonInt, pythonUtf8Decode } from "./python-parse";

export { PythonValueError, pythonBytesRepr, pythonFloat, pythonInt } from "./python-parse";
export { encodeMsgspecJson, formatMsgspecFloat } from "./msgspec-json";

/** Scalar datatypes of published settings; any other name is a struct (`MeasuredRPM`, `GrowthRate` …). */
export type ScalarDatatype = "string" | "float" | "integer" | "json" | "boolean";
export type SettingDatatype = ScalarDatatype | (string & {});

const SCALAR_DATATYPES: ReadonlySet<string> = new Set(["string", "float", "integer", "json", "boolean"]);

export function isStructDatatype(datatype: string): boolean {
  return !SCALAR_DATATYPES.has(datatype);
}

const EMPTY = Buffer.alloc(0);

/**
 * The bytes the original would publish for `value` in a setting of `datatype`.
 * - `null`/`undefined` → zero-length (cleared);
 * - strings as UTF-8, booleans `True`/`False`, `PyInt`/bigint as integers;
 * - numbers: integer text for `integer` settings when whole, Python float text otherwise;
 * - objects, arrays, Maps → msgspec JSON (struct field order = insertion order).
 */
export function encodeSettingValue(value: unknown, datatype: SettingDatatype = "string"): Buffer {
  const payload = encodeSettingPayload(value, datatype);
  if (typeof payload !== "string") return payload;
  return payload.length === 0 ? EMPTY : Buffer.from(payload, "utf8");
}

/**
 * `encodeSettingValue` before the bytes: the UTF-8 text of the payload (`""` when cleared), or
 * the bytes themselves for binary values. Publishers hand the text to the connection, which makes
 * the bytes once — or, in process, only if some subscriber is there to receive them.
 */
export function encodeSettingPayload(value: unknown, datatype: SettingDatatype = "string"): string | Buffer {
  if (value === null || value === undefined) return "";
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return formatPyBool(value);
  if (value instanceof PyInt) return formatPyInt(value.value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    const asInt = (datatype === "integer" || datatype === "boolean") && Number.isInteger(value);
    return asInt ? formatPyInt(value) : formatPyFloat(value);
  }
  return encodeMsgspecJson(value);
}

/** Why a `/set` payload was refused; `message` is the text the original logs at ERROR. */
export class SetPayloadError extends Error {
  constructor(
    message: string,
    readonly datatype: string,
  ) {
    super(message);
    this.name = "SetPayloadError";
  }
}

const TRUTHY = new Set(["true", "1", "y", "on", "yes", "t"]);

/**
 * Decodes a `/set` command payload as the original does (`float()`, `int()`, `json`, and a
 * boolean that is true only for true/1/y/on/yes/t in any case). Throws `SetPayloadError` with
 * Python's message (`could not convert string to float: b'notanumber'`). Struct datatypes are
 * never settable.
 */
export function decodeSetPayload(payload: Uint8Array, datatype: SettingDatatype): unknown {
  try {
    switch (datatype) {
      case "string":
        return pythonUtf8Decode(payload);
      case "float":
        return pythonFloat(payload);
      case "integer":
        return pythonInt(payload);
      case "boolean":
        return TRUTHY.has(pythonUtf8Decode(payload).toLowerCase());
      case "json":
        return parseJson(payload);
      default:
        throw new SetPayloadError(`${datatype} not found.`, datatype);
    }
  } catch (err) {
    if (err instanceof SetPayloadError) throw err;
    throw new SetPayloadError((err as Error).message, datatype);
  }
}

function parseJson(payload: Uint8Array): unknown {
  const text = pythonUtf8Decode(payload);
  try {
    return JSON.parse(text);
  } catch (err) {
    // msgspec's wording differs per fault; ours names the same problem plainly.
    throw new PythonValueError(`JSON is malformed: ${(err as Error).message}`);
  }
}

/**
 * Reads a value a Python (or our) unit published, for consumers such as the leader, the UI
 * bridge or automations. Zero-length → `null`. With a datatype: `boolean` accepts `True`/`False`
 * (and `1`/`0`/`true`/`false`), numbers parse with Python rules, `json` and structs parse as JSON.
 * Without one the payload is sniffed: `True`/`False`, a Python number, JSON object/array, else text.
 * Never throws: an unreadable payload comes back as its text.
 */
export function decodePublishedValue(payload: Uint8Array, datatype?: SettingDatatype): unknown {
  if (payload.length === 0) return null;
  const text = Buffer.from(payload).toString("utf8");
  const kind = datatype ?? sniff(text);
  try {
    switch (kind) {
      case "string":
        return text;
      case "boolean":
        return parsePublishedBoolean(text);
      case "float":
      case "integer":
        return pythonFloat(payload);
      default:
        return JSON.parse(text);
    }
  } catch {
    return text;
  }
}

function parsePublishedBoolean(text: string): boolean | string {
  const t = text.trim();
  if (t === "True" || t === "true" || t === "1") return true;
  if (t === "False" || t === "false" || t === "0") return false;
  return text;
}

function sniff(text: string): SettingDatatype {
  if (text === "True" || text === "False") return "boolean";
  const first = text.trimStart()[0];
  if (first === "{" || first === "[") return "json";
  try {
    pythonFloat(Buffer.from(text, "utf8"));
    return "float";
  } catch {
    return "string";
  }
}
