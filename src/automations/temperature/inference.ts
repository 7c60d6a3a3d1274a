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

export interface PcbThermalConstants {
  pcbHeatCapacityJPerK: number;
  pcbToVialWPerK: number;
  pcbToAmbientWPerK: number;
}

/**
 * A physical model for a heating PCB whose thermal constants are known (measured once per
 * hardware design, as the original's regression was trained once): with the heater off the PCB
 * relaxes as T(t) = T* + A·e^{−kt}, k = (K_pv + K_pa)/C_p, toward T* = (K_pv·T_vial + K_pa·T_room)/(K_pv + K_pa).
 * A least-squares fit of T* and A over the whole curve (k known) is robust to sensor noise;
 * the vial temperature follows from T*.
 */
export function twoNodeCoolingModel(c: PcbThermalConstants): VialTemperatureModel {
  const k = (c.pcbToVialWPerK + c.pcbToAmbientWPerK) / c.pcbHeatCapacityJPerK;
  return (curve) => {
    const s = curve.samples;
    if (s.length < 3) return s[s.length - 1];
    // Sample i is the mean of reads taken over ~0.3 s starting i·Δ after the heater went off.
    const x = s.map((_, i) => Math.exp(-k * i * curve.secondsBetweenSamples));
    const n = s.length;
    const sx = x.reduce((a, b) => a + b, 0);
    const sy = s.reduce((a, b) => a + b, 0);
    const sxx = x.reduce((a, b) => a + b * b, 0);
    const sxy = x.reduce((a, b, i) => a + b * s[i], 0);
    const det = n * sxx - sx * sx;
    if (Math.abs(det) < 1e-12) return s[n - 1];
    const tStar = (sy * sxx - sx * sxy) / det;
    return ((c.pcbToVialWPerK + c.pcbToAmbientWPerK) * tStar - c.pcbToAmbientWPerK * curve.roomTemperatureC) / c.pcbToVialWPerK;
  };
}
