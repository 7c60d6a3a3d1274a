/**
 * Culture growth: logistic growth towards a carrying capacity, a lag phase, and a growth rate
 * that depends on temperature.
 *
 * Lag follows Baranyi & Roberts: cells carry a "physiological state" q that grows at the
 * maximum specific rate; the realised rate is μ·q/(1+q)·(1 − X/K). Over a step with constant μ
 * both the lag adjustment and the logistic term integrate exactly, so the result does not
 * depend on how often the simulator happens to be read.
 *
 * Temperature enters through the cardinal temperature model with inflection (Rosso et al. 1993):
 * 0 outside (Tmin, Tmax), 1 at Topt, a smooth skewed bell in between.
 */

export interface CardinalTemperatures {
  minC: number;
  optC: number;
  maxC: number;
}

export interface CultureParams {
  /** Maximum specific growth rate at the optimum temperature, per hour. */
  maxGrowthRatePerHour: number;
  /** Carrying capacity in OD units (what the 90° photodiode scale reads as OD). */
  carryingCapacityOd: number;
  /** Lag duration at the optimum temperature, hours (0 = none). */
  lagHours: number;
  cardinal: CardinalTemperatures;
  /**
   * Growth multiplier in pure alternative media (e.g. with an antibiotic: < 1). The realised
   * multiplier interpolates linearly with the alt-media fraction.
   */
  altMediaGrowthFactor: number;
}

export interface CultureState {
  /** Biomass concentration in OD units. */
  biomassOd: number;
  /** Baranyi physiological state; null once the lag is over (q/(1+q) ≈ 1). */
  lagQ: number | null;
}

/** Beyond this q/(1+q) differs from 1 by < 1e-12: treat the lag as finished. */
const LAG_DONE_Q = 1e12;

export function cardinalTemperatureFactor(tempC: number, c: CardinalTemperatures): number {
  const { minC, optC, maxC } = c;
  if (tempC <= minC || tempC >= maxC) return 0;
  const num = (tempC - maxC) * (tempC - minC) ** 2;
  const den = (optC - minC) * ((optC - minC) * (tempC - optC) - (optC - maxC) * (optC + minC - 2 * tempC));
  return Math.max(0, num / den);
}

/** Maximum specific rate (h⁻¹) at a temperature and alt-media fraction, before lag and crowding. */
export function specificGrowthRate(p: CultureParams, tempC: number, altMediaFraction: number): number {
  const media = 1 + altMediaFraction * (p.altMediaGrowthFactor - 1);
  return p.maxGrowthRatePerHour * cardinalTemperatureFactor(tempC, p.cardinal) * Math.max(0, media);
}

/** q₀ giving a lag of `lagHours` at rate μ: λ = ln(1 + 1/q₀)/μ. */
export function initialLagQ(p: CultureParams): number | null {
  if (p.lagHours <= 0 || p.maxGrowthRatePerHour <= 0) return null;
  return 1 / Math.expm1(p.lagHours * p.maxGrowthRatePerHour);
}

/**
 * Advance the culture by `hours` at constant specific rate `mu` (h⁻¹), in place: the bioreactor
 * steps it millions of times between two saves.
 */
export function growCulture(state: CultureState, p: CultureParams, mu: number, hours: number): void {
  if (hours <= 0 || mu <= 0 || state.biomassOd <= 0) return;
  let exponent: number; // ∫ μ·q/(1+q) dt over the step
  const lagQ = state.lagQ;
  if (lagQ === null) {
    exponent = mu * hours;
  } else {
    const q1 = lagQ * Math.exp(mu * hours);
    exponent = Math.log1p(q1) - Math.log1p(lagQ);
    state.lagQ = q1 > LAG_DONE_Q ? null : q1;
  }
  const k = p.carryingCapacityOd;
  const x = state.biomassOd;
  // Exact logistic solution for a time-varying rate with integral `exponent`.
  state.biomassOd = k / (1 + (k / x - 1) * Math.exp(-exponent));
}

/** Realised specific growth rate right now (h⁻¹), i.e. d ln X / dt. */
export function realisedGrowthRate(state: CultureState, p: CultureParams, mu: number): number {
  const lagFactor = state.lagQ === null ? 1 : state.lagQ / (1 + state.lagQ);
  return mu * lagFactor * (1 - state.biomassOd / p.carryingCapacityOd);
}
