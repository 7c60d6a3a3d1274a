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
  const m = { m11: 1, m12: 0, m21: 0, m22: 1 };
  writeThermalPropagator(m, p, volumeMl, seconds);
  return m;
}

/** `thermalPropagator` written into `m` (the integrator reuses one object for millions of steps). */
function writeThermalPropagator(m: ThermalPropagator, p: HeatingThermalConstants, volumeMl: number, seconds: number): void {
  if (seconds <= 0) {
    m.m11 = 1;
    m.m12 = 0;
    m.m21 = 0;
    m.m22 = 1;
    return;
  }
  // The system matrix A of the two equations above.
  const cp = p.pcbHeatCapacityJPerK;
  const cv = p.vialDryHeatCapacityJPerK + WATER_J_PER_K_PER_ML * volumeMl;
  const a11 = -(p.pcbToVialWPerK + p.pcbToAmbientWPerK) / cp;
  const a12 = p.pcbToVialWPerK / cp;
  const a21 = p.pcbToVialWPerK / cv;
  const a22 = -(p.pcbToVialWPerK + p.vialToAmbientWPerK) / cv;
  // Eigenvalues of A are real and negative: the off-diagonal terms have the same sign.
  const half = (a11 + a22) / 2;
  const disc = Math.sqrt(((a11 - a22) / 2) ** 2 + a12 * a21);
  const l1 = half + disc;
  const l2 = half - disc;
  const e1 = Math.exp(l1 * seconds);
  const e2 = Math.exp(l2 * seconds);
  // e^{At} = (e1·(A − l2 I) − e2·(A − l1 I)) / (l1 − l2)
  const d = l1 - l2;
  m.m11 = (e1 * (a11 - l2) - e2 * (a11 - l1)) / d;
  m.m12 = ((e1 - e2) * a12) / d;
  m.m21 = ((e1 - e2) * a21) / d;
  m.m22 = (e1 * (a22 - l2) - e2 * (a22 - l1)) / d;
}

/** Temperature rise of the vial over ambient at steady state for a constant duty cycle. */
function steadyVialRise(p: ThermalParams, dutyCycle: number): number {
  const power = (p.heaterWatts * dutyCycle) / 100;
  // Vial: Kpv(Tp − Tv) = Kva(Tv − Ta) → (Tp − Ta) = (Tv − Ta)(1 + Kva/Kpv); PCB balance gives P.
  return power / (p.vialToAmbientWPerK + p.pcbToAmbientWPerK * (1 + p.vialToAmbientWPerK / p.pcbToVialWPerK));
}

/** The PCB's rise over ambient is the vial's times this (see `steadyVialRise`). */
function pcbToVialRise(p: ThermalParams): number {
  return 1 + p.vialToAmbientWPerK / p.pcbToVialWPerK;
}

/** Temperatures the two nodes settle at for a constant duty cycle (analytic). */
export function thermalSteadyState(p: ThermalParams, dutyCycle: number, ambientC: number): ThermalState {
  const vialRise = steadyVialRise(p, dutyCycle);
  return { pcbC: ambientC + vialRise * pcbToVialRise(p), vialC: ambientC + vialRise };
}

/** The state `seconds` later, as a new object (see `ThermalIntegrator` for the in-place step). */
export function stepThermal(
  s: ThermalState,
  p: ThermalParams,
  dutyCycle: number,
  ambientC: number,
  volumeMl: number,
  seconds: number,
): ThermalState {
  const next = { pcbC: s.pcbC, vialC: s.vialC };
  new ThermalIntegrator().step(next, p, dutyCycle, ambientC, volumeMl, seconds);
  return next;
}

/**
 * Steps a ThermalState in place: the bioreactor integrates in millions of steps, so this builds
 * no objects. It keeps the last propagator for a step of the same length and volume (about one
 * step in eight in the week benchmark; most lengths follow how ADC samples and stirrer edges
 * interleave, and e^{At} costs only two exponentials, so a larger cache would not pay). Same
 * inputs give the same propagator, so reuse changes no result. The thermal constants are taken
 * as fixed while cached (a bioreactor's never change).
 */
export class ThermalIntegrator {
  private readonly m: ThermalPropagator = { m11: 1, m12: 0, m21: 0, m22: 1 };
  private constants: HeatingThermalConstants | undefined;
  private volumeMl = Number.NaN;
  private seconds = Number.NaN;

  step(s: ThermalState, p: ThermalParams, dutyCycle: number, ambientC: number, volumeMl: number, seconds: number): void {
    if (seconds <= 0) return;
    const vialRise = steadyVialRise(p, dutyCycle);
    const ssPcbC = ambientC + vialRise * pcbToVialRise(p);
    const ssVialC = ambientC + vialRise;
    const x1 = s.pcbC - ssPcbC;
    const x2 = s.vialC - ssVialC;
    const m = this.propagator(p, volumeMl, seconds);
    s.pcbC = ssPcbC + m.m11 * x1 + m.m12 * x2;
    s.vialC = ssVialC + m.m21 * x1 + m.m22 * x2;
  }

  private propagator(p: HeatingThermalConstants, volumeMl: number, seconds: number): ThermalPropagator {
    if (p !== this.constants || volumeMl !== this.volumeMl || seconds !== this.seconds) {
      writeThermalPropagator(this.m, p, volumeMl, seconds);
      this.constants = p;
      this.volumeMl = volumeMl;
      this.seconds = seconds;
    }
    return this.m;
  }
}
