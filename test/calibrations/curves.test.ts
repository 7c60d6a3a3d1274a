import { type CurveData, closestToDomain, curveDerivative, evaluateCurve, parseCurveData, solveCurve } from "../../src/calibrations/curves";
import { CalibrationError, inverseWithinDomain, parseOdCalibration } from "../../src/jobs/od-reading-calibration";

type Row = [number, number, number, number];

/** A monotone cubic, f' = 2 + 0.6x + 0.15x² > 0 everywhere. */
const f = (x: number) => 1 + 2 * x + 0.3 * x ** 2 + 0.05 * x ** 3;
const df = (x: number) => 2 + 0.6 * x + 0.15 * x ** 2;

/** f written as a piecewise curve: on each piece its Taylor expansion at the piece's knot. */
function asPieces(type: "spline" | "akima", knots: number[]): CurveData {
  const rows = knots.slice(0, -1).map((k): Row => [f(k), df(k), (0.6 + 0.3 * k) / 2, 0.05]); // [f, f', f''/2, f'''/6] at k
  return { type, knots, coefficients: rows };
}

/**
 * The natural cubic spline through (x, y), computed here from its definition: values at both
 * ends of every piece, first and second derivatives continuous at interior knots, second
 * derivative 0 at both ends — 4(n−1) linear equations solved by Gaussian elimination.
 */
function naturalSpline(x: number[], y: number[]): CurveData {
  const m = x.length - 1;
  const size = 4 * m;
  const rows: number[][] = [];
  const eq = (entries: Array<[number, number]>, rhs: number) => {
    const r = new Array(size + 1).fill(0);
    for (const [i, v] of entries) r[i] += v;
    r[size] = rhs;
    rows.push(r);
  };
  const A = (i: number) => 4 * i;
  for (let i = 0; i < m; i++) {
    const h = x[i + 1] - x[i];
    eq([[A(i), 1]], y[i]);
    eq([[A(i), 1], [A(i) + 1, h], [A(i) + 2, h * h], [A(i) + 3, h ** 3]], y[i + 1]);
    if (i < m - 1) {
      eq([[A(i) + 1, 1], [A(i) + 2, 2 * h], [A(i) + 3, 3 * h * h], [A(i + 1) + 1, -1]], 0);
      eq([[A(i) + 2, 2], [A(i) + 3, 6 * h], [A(i + 1) + 2, -2]], 0);
    }
  }
  eq([[A(0) + 2, 1]], 0);
  eq([[A(m - 1) + 2, 2], [A(m - 1) + 3, 6 * (x[m] - x[m - 1])]], 0);
  for (let col = 0; col < size; col++) {
    let pivot = col;
    for (let r = col + 1; r < size; r++) if (Math.abs(rows[r][col]) > Math.abs(rows[pivot][col])) pivot = r;
    [rows[col], rows[pivot]] = [rows[pivot], rows[col]];
    for (let r = 0; r < size; r++) {
      if (r === col) continue;
      const k = rows[r][col] / rows[col][col];
      for (let c = col; c <= size; c++) rows[r][c] -= k * rows[col][c];
    }
  }
  const sol = rows.map((r, i) => r[size] / r[i]);
  return { type: "spline", knots: x, coefficients: Array.from({ length: m }, (_, i) => sol.slice(4 * i, 4 * i + 4) as Row) };
}

describe("piecewise cubic curves (spline, akima)", () => {
  test("evaluation matches the cubic they represent, inside and beyond the knots (end pieces extrapolate)", () => {
    for (const type of ["spline", "akima"] as const) {
      const curve = asPieces(type, [0, 1, 2.5, 4]);
      for (const x of [-1.5, 0, 0.3, 1, 2.49, 2.5, 3.9, 4, 6]) {
        expect(evaluateCurve(curve, x)).toBeCloseTo(f(x), 10);
        expect(curveDerivative(curve, x)).toBeCloseTo(df(x), 10);
      }
    }
  });

  test("inversion returns the one x with f(x) = y, also on a knot and beyond the ends", () => {
    const curve = asPieces("akima", [0, 1, 2.5, 4]);
    for (const x of [-0.7, 0, 0.42, 1, 2.5, 3.3, 4, 5.2]) {
      const solutions = solveCurve(curve, f(x));
      expect(solutions).toHaveLength(1);
      expect(solutions[0]).toBeCloseTo(x, 8);
    }
  });

  test("a natural spline through points interpolates them and inverts back to them", () => {
    const od = [0, 0.1, 0.3, 0.6, 1.0, 1.5];
    const volts = [0.01, 0.12, 0.33, 0.58, 0.85, 1.07];
    const curve = naturalSpline(od, volts);
    for (const [i, x] of od.entries()) expect(evaluateCurve(curve, x)).toBeCloseTo(volts[i], 12);
    // Between the knots a natural spline of increasing data stays close to it.
    const mid = evaluateCurve(curve, 0.8);
    expect(mid).toBeGreaterThan(0.58);
    expect(mid).toBeLessThan(0.85);
    for (const x of [0.05, 0.45, 0.8, 1.2]) {
      const [solution] = solveCurve(curve, evaluateCurve(curve, x)).filter((s) => s >= 0 && s <= 1.5);
      expect(solution).toBeCloseTo(x, 8);
    }
  });

  test("several solutions: the smallest inside the domain wins, else the one nearest to it", () => {
    // y = (x − 2)² as one akima piece on [0, 4]: y = 1 at x = 1 and x = 3.
    const curve: CurveData = { type: "akima", knots: [0, 4], coefficients: [[4, -4, 1, 0]] };
    expect(solveCurve(curve, 1)).toEqual([expect.closeTo(1, 9), expect.closeTo(3, 9)]);
    expect(closestToDomain(solveCurve(curve, 1), 0, 4)).toBeCloseTo(1, 9);
    expect(closestToDomain(solveCurve(curve, 1), 2, 4)).toBeCloseTo(3, 9);
    expect(closestToDomain(solveCurve(curve, 1), 3.5, 9)).toBeCloseTo(3, 9);
    expect(solveCurve(curve, -1)).toEqual([]);
  });

  test("a flat piece at exactly y answers with its ends", () => {
    const curve: CurveData = { type: "spline", knots: [0, 1, 2, 3], coefficients: [[0, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]] };
    expect(solveCurve(curve, 1)).toEqual([1, 2]);
  });
});

describe("curve_data_ parsing", () => {
  test("the original's YAML shapes load", () => {
    expect(parseCurveData({ type: "poly", coefficients: [0.5, 0.01] }, "f.yaml")).toEqual({ type: "poly", coefficients: [0.5, 0.01] });
    const spline = { type: "spline", knots: [0, 1], coefficients: [[1, 2, 3, 4]] };
    expect(parseCurveData(spline, "f.yaml")).toEqual(spline);
  });

  test.each([
    [{ type: "cubic", coefficients: [] }, 'f.yaml: curve_data_.type must be one of poly, spline, akima, got "cubic"'],
    [{ type: "spline", knots: [0, 3, 1], coefficients: [[0, 0, 0, 0], [0, 0, 0, 0]] }, "f.yaml: curve_data_.knots must be strictly increasing (knots[2] = 1 after 3)"],
    [{ type: "akima", knots: [0, 1, 2], coefficients: [[0, 0, 0, 0]] }, "f.yaml: curve_data_.coefficients must have one [a, b, c, d] row per interval: 3 knots need 2 rows, got 1"],
    [{ type: "spline", knots: [0, 1], coefficients: [[0, 0, 0]] }, "f.yaml: curve_data_.coefficients[0] must be 4 numbers [a, b, c, d], got [0,0,0]"],
    [{ type: "poly", coefficients: [1, "x"] }, 'f.yaml: curve_data_.coefficients[1] must be a number, got "x"'],
  ])("bad curve %# is refused naming the field", (raw, message) => {
    expect(() => parseCurveData(raw, "f.yaml")).toThrow(message);
  });
});

describe("OD calibrations with spline and akima curves", () => {
  const yaml = (curve: string) =>
    [
      "calibration_type: od600",
      "calibration_name: spline-cal",
      "calibrated_on_pioreactor_unit: unit1",
      "created_at: 2026-01-01T00:00:00.000000Z",
      "angle: '90'",
      "pd_channel: '2'",
      "ir_led_intensity: 80",
      "x: OD600",
      "y: Voltage",
      curve,
      "recorded_data: {x: [0.0, 0.1, 0.3, 0.6, 1.0, 1.5], y: [0.01, 0.12, 0.33, 0.58, 0.85, 1.07]}",
    ].join("\n");

  test("volts map back to OD through a natural spline, within the recorded range", () => {
    const curve = naturalSpline([0, 0.1, 0.3, 0.6, 1.0, 1.5], [0.01, 0.12, 0.33, 0.58, 0.85, 1.07]);
    if (curve.type === "poly") throw new Error("unreachable");
    const text = yaml(`curve_data_: {type: spline, knots: ${JSON.stringify(curve.knots)}, coefficients: ${JSON.stringify(curve.coefficients)}}`);
    const cal = parseOdCalibration(text, "od90", "spline-cal.yaml");
    expect(cal.curve.type).toBe("spline");
    expect(inverseWithinDomain(cal, 0.33)).toBeCloseTo(0.3, 9);
    expect(inverseWithinDomain(cal, evaluateCurve(curve, 1.25))).toBeCloseTo(1.25, 9);
    // Beyond the recorded volts the solution falls outside the recorded ODs and is refused.
    expect(() => inverseWithinDomain(cal, 2.5)).toThrow("Solution above domain");
  });

  test("a malformed akima curve is a CalibrationError naming the file", () => {
    const text = yaml("curve_data_: {type: akima, knots: [0, 1, 1], coefficients: [[0, 1, 0, 0], [1, 1, 0, 0]]}");
    expect(() => parseOdCalibration(text, "od90", "bad.yaml")).toThrow(CalibrationError);
    expect(() => parseOdCalibration(text, "od90", "bad.yaml")).toThrow("bad.yaml: curve_data_.knots must be strictly increasing");
  });
});
