/**
 * Two-node thermal model: the heating PCB (where the heater and the TMP1075 sit) and the vial
 * on top of it, both losing heat to the room.
 *
 *   Cp·dTp/dt = P·dc/100 − Kpv(Tp − Tv) − Kpa(Tp − Ta)
 *   Cv·dTv/dt = Kpv(Tp − Tv) − Kva(Tv − Ta)
 *
 * With duty cycle and ambient constant over a step this is linear with constant input, solved
 * exactly with the 2×2 matrix exponential, so a step of an hour is as accurate as many small ones.
 * The sensor sees the PCB, not the vial, which is why the original infers the vial temperature
 * from the PCB's cooling curve.
 */

import type { HeatingThermalConstants } from "../ports";

export interface ThermalParams extends HeatingThermalConstants {
  heaterWatts: number;
}

/** What the simulated unit tells the temperature inference about its PCB (everything but the heater power). */
export function thermalConstants(p: HeatingThermalConstants): HeatingThermalConstants {
  return {
    pcbHeatCapacityJPerK: p.pcbHeatCapacityJPerK,
    vialDryHeatCapacityJPerK: p.vialDryHeatCapacityJPerK,
    pcbToVialWPerK: p.pcbToVialWPerK,
    pcbToAmbientWPerK: p.pcbToAmbientWPerK,
    vialToAmbientWPerK: p.vialToAmbientWPerK,
  };
}

export interface ThermalState {
  pcbC: number;
  vialC: number;
}

const WATER_J_PER_K_PER_ML = 4.18;

function system(p: HeatingThermalConstants, volumeMl: number) {
  const cp = p.pcbHeatCapacityJPerK;
  const cv = p.vialDryHeatCapacityJPerK + WATER_J_PER_K_PER_ML * volumeMl;
  return {
    a11: -(p.pcbToVialWPerK + p.pcbToAmbientWPerK) / cp,
    a12: p.pcbToVialWPerK / cp,
    a21: p.pcbToVialWPerK / cv,
    a22: -(p.pcbToVialWPerK + p.vialToAmbientWPerK) / cv,
  };
}

/**
 * e^{At}: how the two nodes' excess over their steady state evolves over `seconds`
 * (row 1 the PCB, row 2 the vial). The identity for `seconds` ≤ 0.
 */
export interface ThermalPropagator {
  m11: number;
  m12: number;
  m21: number;
  m22: number;
}

export function thermalPropagator(p: HeatingThermalConstants, volumeMl: number, seconds: number): ThermalPropagator {
  if (seconds <= 0) return { m11: 1, m12: 0, m21: 0, m22: 1 };
  const { a11, a12, a21, a22 } = system(p, volumeMl);
  // Eigenvalues of A are real and negative: the off-diagonal terms have the same sign.
  const half = (a11 + a22) / 2;
  const disc = Math.sqrt(((a11 - a22) / 2) ** 2 + a12 * a21);
  const l1 = half + disc;
  const l2 = half - disc;
  const e1 = Math.exp(l1 * seconds);
  const e2 = Math.exp(l2 * seconds);
  // e^{At} = (e1·(A − l2 I) − e2·(A − l1 I)) / (l1 − l2)
  const d = l1 - l2;
  return {
    m11: (e1 * (a11 - l2) - e2 * (a11 - l1)) / d,
    m12: ((e1 - e2) * a12) / d,
    m21: ((e1 - e2) * a21) / d,
    m22: (e1 * (a22 - l2) - e2 * (a22 - l1)) / d,
  };
}

/** Temperatures the two nodes settle at for a constant duty cycle (analytic). */
export function thermalSteadyState(p: ThermalParams, dutyCycle: number, ambientC: number): ThermalState {
  const power = (p.heaterWatts * dutyCycle) / 100;
  const kpv = p.pcbToVialWPerK;
  const kva = p.vialToAmbientWPerK;
  const kpa = p.pcbToAmbientWPerK;
  // Vial: Kpv(Tp − Tv) = Kva(Tv − Ta) → (Tp − Ta) = (Tv − Ta)(1 + Kva/Kpv); PCB balance gives P.
  const vialRise = power / (kva + kpa * (1 + kva / kpv));
  return { pcbC: ambientC + vialRise * (1 + kva / kpv), vialC: ambientC + vialRise };
}

export function stepThermal(
  s: ThermalState,
  p: ThermalParams,
  dutyCycle: number,
  ambientC: number,
  volumeMl: number,
  seconds: number,
): ThermalState {
  if (seconds <= 0) return s;
  const ss = thermalSteadyState(p, dutyCycle, ambientC);
  const x1 = s.pcbC - ss.pcbC;
  const x2 = s.vialC - ss.vialC;
  const m = thermalPropagator(p, volumeMl, seconds);
  return { pcbC: ss.pcbC + m.m11 * x1 + m.m12 * x2, vialC: ss.vialC + m.m21 * x1 + m.m22 * x2 };
}
