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

import type { HardwareBackend, HeatingThermalConstants } from "../../hardware/ports";
import { thermalPropagator } from "../../hardware/sim/thermal";

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

/**
 * A physical estimator for a unit whose two-node thermal constants are known (the simulator
 * knows its own, as the original's regression was trained once per real hardware design).
 * With the heater off the PCB follows PCB(t) − T_room = a(t)·(PCB₀ − T_room) + b(t)·(vial₀ − T_room),
 * where [a, b] is the first row of e^{At} (A from the constants and the vial volume). Both
 * starting temperatures come from a least-squares fit over the whole curve, which averages out
 * sensor noise; the vial is then propagated to the end of the curve, the moment the estimate is
 * published and acted on. Unlike a fit of the PCB's asymptote alone, this accounts for the vial
 * cooling during the ~105 s the heater is off.
 */
export function twoNodeCoolingModel(c: HeatingThermalConstants): VialTemperatureModel {
  // With the heater off and the room at 0 the steady state is 0, so the PCB's response at `t`
  // to a unit excess on the PCB is e^{At}[0][0] (m11) and to one on the vial m12.
  return (curve) => {
    const s = curve.samples;
    const n = s.length;
    if (n < 3) return s[n - 1];
    const room = curve.roomTemperatureC;
    const volume = Number.isFinite(curve.volumeMl) && curve.volumeMl > 0 ? curve.volumeMl : 0;
    let saa = 0;
    let sab = 0;
    let sbb = 0;
    let say = 0;
    let sby = 0;
    for (let i = 0; i < n; i++) {
      const { m11: a, m12: b } = thermalPropagator(c, volume, i * curve.secondsBetweenSamples);
      const y = s[i] - room;
      saa += a * a;
      sab += a * b;
      sbb += b * b;
      say += a * y;
      sby += b * y;
    }
    const det = saa * sbb - sab * sab;
    if (Math.abs(det) < 1e-12) return s[n - 1];
    const pcb0 = (say * sbb - sby * sab) / det;
    const vial0 = (saa * sby - sab * say) / det;
    // The vial's own response, propagated to the end of the curve.
    const end = thermalPropagator(c, volume, (n - 1) * curve.secondsBetweenSamples);
    return room + end.m21 * pcb0 + end.m22 * vial0;
  };
}

/**
 * The physical model when the backend knows its PCB's constants (the simulator), else the
 * original's regression: each estimator is only valid for the PCB it was calibrated on.
 */
export function defaultVialTemperatureModel(backend: Pick<HardwareBackend, "heatingThermal">): VialTemperatureModel {
  return backend.heatingThermal ? twoNodeCoolingModel(backend.heatingThermal) : linearCoolingCurveModel;
}
