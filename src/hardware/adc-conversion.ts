/**
 * Raw-count ↔ volt conversions and gain windows of the ADCs Pioreactor HATs use. Shared by the
 * Pi drivers and the simulator so a simulated input produces exactly the raw numbers the real
 * chip would, and the OD job's raw-unit arithmetic (dark offsets, priors) behaves the same on both.
 */

/** Programmable gains of the ADS111x family and their full-scale ranges (± volts). */
export const ADS_FULL_SCALE_VOLTS: ReadonlyMap<number, number> = new Map([
  [2 / 3, 6.144],
  [1, 4.096],
  [2, 2.048],
  [4, 1.024],
  [8, 0.512],
  [16, 0.256],
]);

/**
 * Gain → volt window used to pick a gain for a signal level; the window is scaled by a tolerance
 * (0.85 in the original) so the signal stays away from the top of the range. The lowest window
 * starts below zero so a clipped-to-zero dark reading still selects the most sensitive gain.
 */
export const ADS_GAIN_WINDOWS: ReadonlyArray<readonly [gain: number, lower: number, upper: number]> = [
  [2 / 3, 4.096, 6.144],
  [1, 2.048, 4.096],
  [2, 1.024, 2.048],
  [4, 0.512, 1.024],
  [8, 0.256, 0.512],
  [16, -1, 0.256],
];

/** ADS111x codes are 16-bit two's complement; +full scale is 32767. */
export const ADS_MAX_CODE = 32767;

export function adsFullScale(gain: number): number {
  const fsr = ADS_FULL_SCALE_VOLTS.get(gain);
  if (fsr === undefined) throw new RangeError(`ADS111x has no gain ${gain} (valid: 2/3, 1, 2, 4, 8, 16)`);
  return fsr;
}

export function adsRawToVolts(raw: number, gain: number): number {
  return (raw / ADS_MAX_CODE) * adsFullScale(gain);
}

export function adsVoltsToRaw(volts: number, gain: number): number {
  return (volts * ADS_MAX_CODE) / adsFullScale(gain);
}

/** The gain whose tolerance-scaled window contains `volts`, or undefined if none does. */
export function adsGainFor(volts: number, tolerance = 0.85): number | undefined {
  for (const [gain, lb, ub] of ADS_GAIN_WINDOWS) {
    if (tolerance * lb <= volts && volts < tolerance * ub) return gain;
  }
  return undefined;
}

/** Normalises a gain given as 0.6667 or "2/3" to the table key. */
export function canonicalAdsGain(gain: number): number {
  if (Math.abs(gain - 2 / 3) < 1e-6) return 2 / 3;
  adsFullScale(gain);
  return gain;
}

/** The HAT MCU (RP2040) ADC: 12-bit samples on a 3.3 V reference, summed and shifted by firmware. */
export const PICO_REFERENCE_VOLTS = 3.3;
export const PICO_FULL_SCALE_COUNTS = 4095;

/**
 * Firmware ≥ 0.4 reports Σ1024 samples ≫ 5 (32× a single sample); older firmware reported 16×.
 */
export function picoScaleForFirmware(firmware: readonly [number, number]): number {
  const [major, minor] = firmware;
  return major > 0 || minor >= 4 ? 32 : 16;
}

export function picoRawToVolts(raw: number, scale: number): number {
  return (raw / PICO_FULL_SCALE_COUNTS / scale) * PICO_REFERENCE_VOLTS;
}

export function picoVoltsToRaw(volts: number, scale: number): number {
  return (volts / PICO_REFERENCE_VOLTS) * PICO_FULL_SCALE_COUNTS * scale;
}
