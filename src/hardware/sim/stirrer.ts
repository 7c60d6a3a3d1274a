/**
 * Stirring motor: the steady speed is linear in duty cycle above a dead band, the speed follows
 * changes with a first-order lag, and a motor at rest needs a minimum duty cycle to break away
 * (which is why the original "kicks" the motor at 100 % when starting).
 */

export interface StirrerParams {
  /** RPM gained per duty-cycle percent above the dead band. */
  rpmPerPercent: number;
  /** Below this duty cycle the motor cannot turn the stir bar. */
  deadBandPercent: number;
  /** A motor at rest needs at least this duty cycle to start. */
  breakawayPercent: number;
  maxRpm: number;
  timeConstantSeconds: number;
  /** Relative jitter of each revolution's period (magnet wobble, sensor threshold). */
  periodJitter: number;
}

export interface StirrerState {
  rpm: number;
  /** Fraction of the current revolution completed since the last hall-sensor edge, 0..1. */
  phase: number;
}

const AT_REST_RPM = 1;

export function steadyRpm(p: StirrerParams, dutyCycle: number, currentRpm: number, stalled: boolean): number {
  if (stalled) return 0;
  if (currentRpm < AT_REST_RPM && dutyCycle < p.breakawayPercent) return 0;
  return Math.min(p.maxRpm, Math.max(0, p.rpmPerPercent * (dutyCycle - p.deadBandPercent)));
}

/** Advance the stirrer by `seconds`, in place (it is stepped millions of times between saves). */
export function stepStirrer(s: StirrerState, p: StirrerParams, dutyCycle: number, stalled: boolean, seconds: number): void {
  if (seconds <= 0) return;
  const target = steadyRpm(p, dutyCycle, s.rpm, stalled);
  const tau = p.timeConstantSeconds;
  const decay = Math.exp(-seconds / tau);
  const rpm = target + (s.rpm - target) * decay;
  // Revolutions turned: ∫ rpm/60 dt of the exponential approach.
  const revolutions = (target * seconds + (s.rpm - target) * tau * (1 - decay)) / 60;
  s.rpm = rpm < 1e-6 ? 0 : rpm;
  s.phase = (s.phase + revolutions) % 1;
}
