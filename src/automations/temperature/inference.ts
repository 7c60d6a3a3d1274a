/**
 * Vial temperature from the heating PCB's cooling curve. The sensor sits on the PCB, not in the
 * liquid, so every inference switches the heater off, samples the PCB as it cools, and maps the
 * curve (plus the duty cycle that was applied) to a vial temperature.
 *
 * `linearCoolingCurveModel` is the original's regression for 40 ml and 20 ml ≥ v1.1 units
 * (trained on real hardware): features [dc, T1…T21] / 35, then T1² and T20·dc, 24 weights and an
 * intercept. Other estimators plug in through
 * `VialTemperatureModel`.
 */

export interface CoolingCurve {
  /** Heater duty cycle (%) that was applied before the heater went off. */
  previousDutyCycle: number;
  /** Averaged PCB temperatures (℃), one every `secondsBetweenSamples`. */
  samples: number[];
  secondsBetweenSamples: number;
  roomTemperatureC: number;
  volumeMl: number;
}

export type VialTemperatureModel = (curve: CoolingCurve) => number;

// Regression weights of the original's `approximate_temperature_20_2_0` (facts of its trained model).
const WEIGHTS = [
  -13.7221255, 150.807347, 15.280857, -71.7124615, -81.5352596, -58.2053398, -84.9915201, -36.97293, -0.0851994806, 11.263567,
  33.7434235, 33.6348041, 42.5731033, 67.2551219, 83.7883314, 62.9508694, 49.5735854, 18.6594862, 0.312848519, -38.2815596,
  -56.2834504, -92.7840943, -7.62113224, 8.18877406,
];
const INTERCEPT = -6.171633633597331;
const SCALE = 35;

export const linearCoolingCurveModel: VialTemperatureModel = (curve) => {
  // With the heater already off the PCB has settled to the vial's temperature.
  if (curve.previousDutyCycle === 0) return curve.samples[curve.samples.length - 1];
  if (curve.samples.length !== 21) throw new Error(`the linear model needs 21 samples, got ${curve.samples.length}`);
  const x = [curve.previousDutyCycle, ...curve.samples].map((v) => v / SCALE);
  x.push(x[1] ** 2, x[20] * x[0]);
  return x.reduce((acc, v, i) => acc + v * WEIGHTS[i], INTERCEPT);
};
