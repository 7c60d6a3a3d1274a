/**
 * The culture-growth extended Kalman filter (the original's grpredict `CultureGrowthEKF`).
 *
 * State x = [log normalised OD, growth rate r (h⁻¹), drift of r]. Between readings
 * log OD grows by r·dt, r follows its drift, and the drift decays. Each reading fuses the
 * sensors into one log-OD measurement (inverse-variance weighting); an innovation far outside
 * its expected spread is treated as an outlier by inflating its variance rather than dropping it,
 * and right after a dilution the filter is told the OD may jump so it does not read the step as
 * growth.
 */

export type Vector3 = [number, number, number];
export type Matrix3 = [Vector3, Vector3, Vector3];

export interface EkfUpdateResult {
  state: Vector3;
  covariance: Matrix3;
  outlier: boolean;
}

const GROWTH_RATE_LIMITS: [number, number] = [-1, 3];
const DRIFT_DECAY = 0.995;
const DILUTION_LOG_OD_VARIANCE = 0.05;
const DILUTION_RATE_VARIANCE = 1e-4;
const MIN_DIAGONAL = 1e-12;
const MIN_BASE_VARIANCE = 2e-5;

function clone(m: Matrix3): Matrix3 {
  return m.map((r) => [...r]) as Matrix3;
}

export function diagonal(values: readonly number[]): number[][] {
  return values.map((v, i) => values.map((_, j) => (i === j ? v : 0)));
}

export class CultureGrowthEKF {
  private x: Vector3;
  private P: Matrix3;
  private readonly Q: Matrix3;
  /** Per-sensor observation variance in linear (not log) units, adapted as the filter runs. */
  private readonly R: number[];
  private readonly baseVariance: number;
  private adaptiveVariance: number;
  /** The transition matrix; `update` sets its dt terms. */
  private readonly F: Matrix3 = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, DRIFT_DECAY],
  ];
  private readonly scratchQ = zeros();
  private readonly scratchFP = zeros();
  private readonly scratchFt = zeros();
  private readonly scratchPp = zeros();

  constructor(
    initialState: readonly number[],
    initialCovariance: readonly (readonly number[])[],
    processNoise: readonly (readonly number[])[],
    observationNoise: readonly (readonly number[])[],
    private readonly outlierStdThreshold: number,
  ) {
    this.x = [initialState[0], initialState[1], initialState[2]];
    this.P = initialCovariance.map((r) => [r[0], r[1], r[2]]) as Matrix3;
    this.Q = processNoise.map((r) => [r[0], r[1], r[2]]) as Matrix3;
    this.R = observationNoise.map((row, i) => row[i]);
    const meanR = this.R.reduce((a, b) => a + b, 0) / this.R.length;
    this.baseVariance = Math.max(MIN_BASE_VARIANCE, (3 * meanR) / Math.exp(this.x[0]) ** 2);
    this.adaptiveVariance = this.baseVariance;
  }

  get state(): Vector3 {
    return [...this.x] as Vector3;
  }

  get covariance(): Matrix3 {
    return clone(this.P);
  }

  /**
   * One reading: `observations` per sensor (normalised OD, > 0), `dtHours` since the last one,
   * `recentDilution` for the first readings after a dosing event.
   */
  update(observations: readonly number[], dtHours: number, recentDilution = false): EkfUpdateResult {
    if (observations.length !== this.R.length) {
      throw new Error(`Expected ${this.R.length} observations, got ${observations.length}.`);
    }
    for (const y of observations) if (!(y > 0)) throw new Error(`Observations must be positive, got ${JSON.stringify(observations)}.`);

    // Predict. The matrices are scratch fields, filled in place: this runs for every OD reading,
    // and the arithmetic (and so every bit of the result) is that of the plain formulas.
    const dt = dtHours;
    const F = this.F;
    F[0][1] = dt;
    F[0][2] = (dt * dt) / 2;
    F[1][2] = dt;
    const xp0 = this.x[0] + dt * this.x[1] + ((dt * dt) / 2) * this.x[2];
    const xp1 = this.x[1] + dt * this.x[2];
    const xp2 = DRIFT_DECAY * this.x[2];
    const Q = this.scratchQ;
    copyInto(Q, this.Q);
    if (recentDilution) {
      Q[0][0] += DILUTION_LOG_OD_VARIANCE;
      Q[1][1] += DILUTION_RATE_VARIANCE;
    }
    const Pp = this.scratchPp;
    mulInto(this.scratchFP, F, this.P);
    transposeInto(this.scratchFt, F);
    mulInto(Pp, this.scratchFP, this.scratchFt);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) Pp[i][j] = Pp[i][j] + Q[i][j];

    // Fuse sensors in log space: variance of log y ≈ var(y) / y².
    let weightSum = 0;
    let weighted = 0;
    for (let i = 0; i < observations.length; i++) {
      const y = observations[i];
      const variance = Math.max(this.R[i] / (y * y), this.baseVariance);
      weightSum += 1 / variance;
      weighted += Math.log(y) / variance;
    }
    const z = weighted / weightSum;
    const measurementVarianceFused = 1 / weightSum;

    const innovation = z - xp0;
    let measurementVariance = Math.max(measurementVarianceFused, this.adaptiveVariance);
    let S = Pp[0][0] + measurementVariance;
    const standardised = Math.abs(innovation) / Math.sqrt(S);
    const outlier = standardised > this.outlierStdThreshold;
    if (outlier) {
      measurementVariance *= (standardised / this.outlierStdThreshold) ** 2;
      S = Pp[0][0] + measurementVariance;
    }

    const K0 = Pp[0][0] / S;
    const K1 = Pp[1][0] / S;
    const K2 = Pp[2][0] / S;
    const x = this.x;
    x[0] = xp0 + K0 * innovation;
    x[1] = xp1 + K1 * innovation;
    x[2] = xp2 + K2 * innovation;
    const P = this.P;
    for (let j = 0; j < 3; j++) {
      P[0][j] = Pp[0][j] - K0 * Pp[0][j];
      P[1][j] = Pp[1][j] - K1 * Pp[0][j];
      P[2][j] = Pp[2][j] - K2 * Pp[0][j];
    }
    for (let i = 0; i < 3; i++) P[i][i] = Math.max(P[i][i], MIN_DIAGONAL);
    x[1] = Math.min(GROWTH_RATE_LIMITS[1], Math.max(GROWTH_RATE_LIMITS[0], x[1]));

    if (!outlier && !recentDilution) {
      // Learn the measurement noise from ordinary innovations, bounded so one jump cannot blow it up.
      this.adaptiveVariance = Math.max(
        this.baseVariance,
        0.98 * this.adaptiveVariance + 0.02 * Math.min(innovation * innovation, 16 * S),
      );
      const scale = Math.exp(x[0]) ** 2;
      for (let i = 0; i < this.R.length; i++) this.R[i] = this.adaptiveVariance * scale;
    }

    return { state: this.state, covariance: this.covariance, outlier };
  }
}

function zeros(): Matrix3 {
  return [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
}

function copyInto(out: Matrix3, a: Matrix3): void {
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out[i][j] = a[i][j];
}

/** out = a·b, summed as `out[i][j] += a[i][k]·b[k][j]` from 0 (so −0 terms add up as before). */
function mulInto(out: Matrix3, a: Matrix3, b: Matrix3): void {
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      let sum = 0;
      for (let k = 0; k < 3; k++) sum += a[i][k] * b[k][j];
      out[i][j] = sum;
    }
}

function transposeInto(out: Matrix3, a: Matrix3): void {
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out[i][j] = a[j][i];
}
