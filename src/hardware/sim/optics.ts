/**
 * Photodiode signals. The IR LED lights the culture; photodiodes at 45°, 90° and 135° see
 * scattered light that grows with biomass and saturates at high density; the 180° photodiode
 * sees transmitted light that falls with biomass; the reference photodiode (REF) looks at the
 * LED directly and so tracks its output, which drifts with temperature. Noise is added per
 * ADC read by the bioreactor (it owns the random stream).
 */

export type Angle = "45" | "90" | "135" | "180";
export type PhotodiodeRole = Angle | "REF";

export interface AngleOptics {
  /** Volts per OD unit (scatter) or volts at zero OD (transmission), at 100 % IR. */
  voltsAtFullIr: number;
  /** Media and vial scatter, in OD-equivalent units (scatter angles). */
  blankOd: number;
  /** OD at which scatter reaches half its linear extrapolation. */
  saturationOd: number;
  /** Transmission only: absorbance per OD unit across the vial (log10 units). */
  absorbancePerOd: number;
}

export interface OpticsParams {
  angles: Record<Angle, AngleOptics>;
  /** REF volts at 100 % IR and 25 °C. */
  refVoltsAtFullIr: number;
  /** LED output change per °C (IR LEDs dim as they warm). */
  ledTemperatureCoefficientPerC: number;
  darkVolts: number;
  /** Light from other LED channels (white, UV …) reaching a photodiode, volts per percent. */
  crosstalkVoltsPerPercent: number;
  /** Per-read noise: relative to the signal, plus an absolute floor, scaled up by stirring. */
  relativeNoise: number;
  absoluteNoiseVolts: number;
  stirringNoisePer1000Rpm: number;
  /** AR(1) correlation of successive reads' noise. */
  noiseAutocorrelation: number;
  /** Probability per read of a spike of U(2,5)·σ·N(0,1). */
  spikeProbability: number;
  refNoiseVolts: number;
  /** Mains pick-up amplitude (0 = none) and frequency; exercises the OD job's sine fit. */
  mainsRippleVolts: number;
  mainsHz: number;
  /** Photodiode supply: readings clip here. */
  maxVolts: number;
}

export function ledOutputFactor(p: OpticsParams, ledTempC: number): number {
  return Math.max(0, 1 + p.ledTemperatureCoefficientPerC * (ledTempC - 25));
}

/** Noise-free photodiode volts above dark for biomass `od` at IR `irPercent`. */
export function photodiodeSignal(p: OpticsParams, angle: Angle, od: number, irPercent: number, ledFactor: number): number {
  const a = p.angles[angle];
  const light = (irPercent / 100) * ledFactor;
  if (angle === "180") return a.voltsAtFullIr * light * 10 ** (-a.absorbancePerOd * od);
  const scatter = a.blankOd + od / (1 + od / a.saturationOd);
  return a.voltsAtFullIr * light * scatter;
}

export function referenceSignal(p: OpticsParams, irPercent: number, ledFactor: number): number {
  return p.refVoltsAtFullIr * (irPercent / 100) * ledFactor;
}
