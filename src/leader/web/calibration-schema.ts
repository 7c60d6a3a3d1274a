/**
 * Checks an uploaded calibration YAML the way the original decodes it into its calibration union
 * (tag `calibration_type` ∈ od, od600, simple_peristaltic_pump, simple_stirring), but reports
 * every problem with the field and, for YAML syntax errors, the line and column.
 */
import YAML from "yaml";

export const CALIBRATION_TYPES = ["od", "od600", "simple_peristaltic_pump", "simple_stirring"] as const;

export class CalibrationDataError extends Error {}

type Doc = Record<string, unknown>;

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isNumberList = (v: unknown): v is number[] => Array.isArray(v) && v.every(isNumber);

/** A timestamp with a zone, as msgspec's `datetime` with `tz=True` requires. */
function isTzTimestamp(v: unknown): boolean {
  if (v instanceof Date) return true;
  return typeof v === "string" && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(v.trim()) && !Number.isNaN(Date.parse(v));
}

function parseMapping(text: string, what: string): Doc {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}: ` : "";
    throw new CalibrationDataError(`${what} is not valid YAML: ${at}${e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  const value = doc.toJS() as unknown;
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new CalibrationDataError(`${what} must be a YAML mapping.`);
  return value as Doc;
}

/** Returns the calibration's name; throws `CalibrationDataError` naming the first bad field. */
export function checkCalibrationYaml(text: string): { calibrationName: string; calibrationType: string } {
  const doc = parseMapping(text, "calibration_data");
  const problem = (field: string, message: string) => new CalibrationDataError(`calibration_data: \`${field}\` ${message}`);
  const type = doc.calibration_type;
  if (typeof type !== "string" || !(CALIBRATION_TYPES as readonly string[]).includes(type)) {
    throw problem("calibration_type", `must be one of ${CALIBRATION_TYPES.join(", ")} (got ${JSON.stringify(type ?? null)}).`);
  }
  for (const field of ["calibration_name", "calibrated_on_pioreactor_unit"]) {
    if (typeof doc[field] !== "string" || doc[field] === "") throw problem(field, "is required and must be a non-empty string.");
  }
  if (!isTzTimestamp(doc.created_at)) throw problem("created_at", "must be an ISO 8601 timestamp with a timezone, e.g. 2025-01-31T12:34:56Z.");
  const curve = doc.curve_data_ as Doc | undefined;
  if (!curve || typeof curve !== "object" || Array.isArray(curve) || typeof curve.type !== "string") {
    throw problem("curve_data_", "must be a mapping with a `type` (e.g. poly) and its coefficients or knots.");
  }
  for (const field of ["x", "y"]) if (doc[field] !== undefined && typeof doc[field] !== "string") throw problem(field, "must be a string.");
  const recorded = doc.recorded_data as Doc | undefined;
  if (!recorded || typeof recorded !== "object" || !isNumberList(recorded.x) || !isNumberList(recorded.y)) {
    throw problem("recorded_data", "must have lists of numbers `x` and `y`.");
  }
  if (recorded.x.length !== recorded.y.length) throw problem("recorded_data", "lists `x` and `y` should have the same lengths.");
  const need = (field: string, check: (v: unknown) => boolean, message: string) => {
    if (!check(doc[field])) throw problem(field, message);
  };
  if (type === "od" || type === "od600") {
    need("ir_led_intensity", isNumber, "must be a number.");
    need("angle", (v) => ["45", "90", "135", "180"].includes(String(v)), "must be one of 45, 90, 135, 180.");
    need("pd_channel", (v) => ["1", "2", "3", "4"].includes(String(v)), "must be one of 1, 2, 3, 4.");
  } else if (type === "simple_peristaltic_pump") {
    need("hz", (v) => isNumber(v) && v >= 0, "must be a number ≥ 0.");
    need("dc", (v) => isNumber(v) && v >= 0, "must be a number ≥ 0.");
    need("voltage", isNumber, "must be a number.");
  } else {
    need("pwm_hz", (v) => isNumber(v) && v >= 0, "must be a number ≥ 0.");
    need("voltage", isNumber, "must be a number.");
  }
  return { calibrationName: doc.calibration_name as string, calibrationType: type };
}

/** Reads a stored calibration or estimator file as JSON-ready data (YAML timestamps stay strings). */
export function readArtifactYaml(text: string, what: string): Doc {
  return parseMapping(text, what);
}
