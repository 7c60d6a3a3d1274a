/**
 * Calibration curves as the original stores them in `curve_data_`:
 *   poly:          {type: poly, coefficients: [c_n, …, c_1, c_0]}           (highest degree first)
 *   spline, akima: {type: spline|akima, knots: [k_0 < … < k_n], coefficients: [[a, b, c, d] × n]}
 * A piecewise curve is, on interval i, a + b·u + c·u² + d·u³ with u = x − k_i; below k_0 the first
 * piece and above k_n the last piece extend (extrapolate). Spline (natural cubic) and Akima
 * differ only in how the pieces were fitted, so evaluation and inversion are shared.
 */
import { polyEval, realPolynomialRoots } from "./polynomial";

export type CurveData =
  | { type: "poly"; coefficients: number[] }
  | { type: "spline" | "akima"; knots: number[]; coefficients: Array<[number, number, number, number]> };

export class CurveDataError extends Error {
  override name = "CurveDataError";
}

export const CURVE_TYPES = ["poly", "spline", "akima"] as const;

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Validates a parsed `curve_data_`; errors name `where` (the file) and the offending field. */
export function parseCurveData(raw: unknown, where: string): CurveData {
  const fail = (what: string): never => {
    throw new CurveDataError(`${where}: curve_data_${what}`);
  };
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail(" must be a mapping with a type");
  const doc = raw as Record<string, unknown>;
  const type = doc.type as CurveData["type"];
  if (!CURVE_TYPES.includes(type)) fail(`.type must be one of ${CURVE_TYPES.join(", ")}, got ${JSON.stringify(doc.type)}`);
  const coefficients = doc.coefficients ?? [];
  if (!Array.isArray(coefficients)) fail(".coefficients must be a list");
  if (type === "poly") {
    const list = coefficients as unknown[];
    list.forEach((c, i) => {
      if (!isNumber(c)) fail(`.coefficients[${i}] must be a number, got ${JSON.stringify(c)}`);
    });
    return { type, coefficients: list as number[] };
  }
  const rawKnots = doc.knots ?? [];
  if (!Array.isArray(rawKnots)) fail(".knots must be a list");
  const knots = rawKnots as unknown[];
  knots.forEach((k, i) => {
    if (!isNumber(k)) fail(`.knots[${i}] must be a number, got ${JSON.stringify(k)}`);
    if (i > 0 && (k as number) <= (knots[i - 1] as number)) fail(`.knots must be strictly increasing (knots[${i}] = ${k} after ${knots[i - 1]})`);
  });
  const rows = coefficients as unknown[];
  if (knots.length > 0 && rows.length !== knots.length - 1) {
    fail(`.coefficients must have one [a, b, c, d] row per interval: ${knots.length} knots need ${knots.length - 1} rows, got ${rows.length}`);
  }
  rows.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== 4 || !row.every(isNumber)) {
      fail(`.coefficients[${i}] must be 4 numbers [a, b, c, d], got ${JSON.stringify(row)}`);
    }
  });
  return { type, knots: knots as number[], coefficients: rows as Array<[number, number, number, number]> };
}

/** True when the curve has nothing to evaluate (the original raises "curve_data_ is empty"). */
export function isEmptyCurve(curve: CurveData): boolean {
  return curve.type === "poly" ? curve.coefficients.length === 0 : curve.knots.length < 2 || curve.coefficients.length === 0;
}

/** Which piece covers x: the last knot at or below x, clamped to the first and last piece. */
function pieceIndex(knots: readonly number[], x: number): number {
  let lo = 0;
  let hi = knots.length - 1;
  if (x < knots[0]) return 0;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (knots[mid] <= x) lo = mid;
    else hi = mid;
  }
  return Math.min(lo, knots.length - 2);
}

/** y at x (unrounded). */
export function evaluateCurve(curve: CurveData, x: number): number {
  if (isEmptyCurve(curve)) throw new CurveDataError("calibration curve_data_ is empty");
  if (curve.type === "poly") return polyEval(curve.coefficients, x);
  const i = pieceIndex(curve.knots, x);
  const u = x - curve.knots[i];
  const [a, b, c, d] = curve.coefficients[i];
  return a + u * (b + u * (c + u * d));
}

/** dy/dx at x. */
export function curveDerivative(curve: CurveData, x: number): number {
  if (isEmptyCurve(curve)) throw new CurveDataError("calibration curve_data_ is empty");
  if (curve.type === "poly") {
    const n = curve.coefficients.length - 1;
    return polyEval(
      curve.coefficients.slice(0, -1).map((c, k) => c * (n - k)),
      x,
    );
  }
  const i = pieceIndex(curve.knots, x);
  const u = x - curve.knots[i];
  const [, b, c, d] = curve.coefficients[i];
  return b + u * (2 * c + 3 * d * u);
}

/** Merges solutions closer than 1e-7 (a root on a knot is found by both neighbouring pieces). */
function uniqueSorted(values: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.filter((v, i) => i === 0 || Math.abs(v - sorted[i - 1]) > 1e-7);
}

/**
 * Every real x with curve(x) = y, sorted. Each piece is solved on its own interval (the first
 * piece also below k_0, the last also above k_n, as evaluation extrapolates them).
 */
export function solveCurve(curve: CurveData, y: number): number[] {
  if (isEmptyCurve(curve)) throw new CurveDataError("calibration curve_data_ is empty");
  if (curve.type === "poly") {
    const shifted = [...curve.coefficients];
    shifted[shifted.length - 1] -= y;
    return realPolynomialRoots(shifted);
  }
  const last = curve.coefficients.length - 1;
  const solutions: number[] = [];
  curve.coefficients.forEach(([a, b, c, d], i) => {
    const h = curve.knots[i + 1] - curve.knots[i];
    const lower = i === 0 ? Number.NEGATIVE_INFINITY : 0;
    const upper = i === last ? Number.POSITIVE_INFINITY : h;
    const cubic = [d, c, b, a - y];
    if (cubic.every((k) => Math.abs(k) < 1e-12)) {
      // The piece is flat at exactly y: its finite ends stand for the whole stretch.
      for (const end of [lower, upper]) if (Number.isFinite(end)) solutions.push(curve.knots[i] + end);
      return;
    }
    for (const u of realPolynomialRoots(cubic, 1e-12)) {
      if (u >= lower - 1e-9 && u <= upper + 1e-9) solutions.push(curve.knots[i] + Math.min(Math.max(u, lower), upper));
    }
  });
  return uniqueSorted(solutions);
}

/**
 * The original's choice among several solutions: the smallest one inside [min, max], else the
 * one nearest to the domain (the smallest of equals).
 */
export function closestToDomain(solutions: readonly number[], min: number, max: number): number {
  let best: number | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const s of [...solutions].sort((a, b) => a - b)) {
    if (s >= min && s <= max) return s;
    const distance = Math.min(Math.abs(s - min), Math.abs(s - max));
    if (distance < bestDistance) {
      bestDistance = distance;
      best = s;
    }
  }
  if (best === undefined) throw new CurveDataError("no solutions");
  return best;
}
