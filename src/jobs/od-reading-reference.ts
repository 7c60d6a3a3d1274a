/**
 * IR LED reference tracking. The OD signal is proportional to the IR LED's output, which drifts
 * with temperature and age; the REF photodiode watches the LED directly, so each signal is
 * divided by a smoothed REF level. A noise gate keeps a jittery REF (a loose photodiode, someone
 * changing the IR intensity) from corrupting the smoothed level.
 *
 *  - `unity` (the shipped default): REF relative to the experiment's first REF reading, which is
 *    kept in the persistent cache `ir_led_reference_normalization`, so ODs start near the raw volts;
 *  - `classic` (the original's code fallback): REF volts themselves;
 *  - no REF channel: identity.
 */
import type { PdChannel } from "../pubsub/structs";
import { formatPyFloat } from "../util/python-format";
import type { KeyValueCache } from "./local-storage";
import type { Logger } from "./logger";
import { ExponentialMovingAverage } from "./od-reading-adc";

export interface ReferenceTracker {
  /** The REF channel, or undefined when there is none. */
  readonly channel: PdChannel | undefined;
  setInterval(seconds: number | undefined): void;
  /** Feeds one REF reading; false when it looked too noisy to trust (the smoothed level is kept). */
  update(refVolts: number): boolean;
  /** Signal volts → normalised OD. */
  transform(volts: number): number;
}

export class NoReferenceTracker implements ReferenceTracker {
  readonly channel = undefined;
  setInterval(): void {}
  update(): boolean {
    return true;
  }
  transform(volts: number): number {
    return volts;
  }
}

const BASELINE_STD_THRESHOLD = 0.025;
const BASELINE_INTERVAL_SECONDS = 5.0;
const NOISE_POWER_SEED = 0.001 ** 2;

abstract class NoiseGatedReferenceTracker implements ReferenceTracker {
  private interval: number | undefined;
  private readonly smoothed: ExponentialMovingAverage;
  private readonly noiseBaseline = new ExponentialMovingAverage(0.8);
  private readonly noisePower = new ExponentialMovingAverage(0.95);

  constructor(
    readonly channel: PdChannel,
    referenceEmaWeight: number,
    protected readonly logger: Logger,
    interval: number | undefined,
  ) {
    this.interval = interval;
    this.smoothed = new ExponentialMovingAverage(referenceEmaWeight);
    this.noisePower.update(NOISE_POWER_SEED);
  }

  setInterval(seconds: number | undefined): void {
    this.interval = seconds;
  }

  /** Slower readings see more drift between them, so the allowed noise grows with √interval. */
  stdThreshold(): number {
    return BASELINE_STD_THRESHOLD * Math.sqrt((this.interval ?? BASELINE_INTERVAL_SECONDS) / BASELINE_INTERVAL_SECONDS);
  }

  protected abstract relative(refVolts: number): number;

  update(refVolts: number): boolean {
    const relative = this.relative(refVolts);
    const baseline = this.noiseBaseline.hasValue() ? this.noiseBaseline.latest() : relative;
    const std = Math.sqrt(this.noisePower.update((relative - baseline) ** 2));
    this.noiseBaseline.update(relative);
    if (std <= this.stdThreshold()) {
      this.smoothed.update(relative);
      return true;
    }
    this.logger.warning(
      `The reference PD is very noisy, std=${formatTwoSignificant(std)}. Is the PD in channel ${this.channel} positioned correctly? Is the IR LED behaving as expected?`,
    );
    // Starting the noise estimate afresh avoids a warning per reading after a deliberate IR change.
    this.noiseBaseline.clear();
    this.noisePower.clear();
    this.noisePower.update(NOISE_POWER_SEED);
    return false;
  }

  transform(volts: number): number {
    const level = this.smoothed.latest();
    if (level <= 0) throw new Error("IR Reference is 0.0. Is it connected correctly? Is the IR LED working?");
    return volts / level;
  }
}

/** Python's `format(x, ".2g")`. */
function formatTwoSignificant(x: number): string {
  if (x === 0) return "0";
  const exponent = Math.floor(Math.log10(Math.abs(x)));
  if (exponent < -4 || exponent >= 2) {
    const [m, e] = x.toExponential(1).split("e");
    const n = Number(e);
    return `${m.replace(/\.0$/, "")}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  const fixed = x.toFixed(Math.max(0, 1 - exponent));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

export class ClassicReferenceTracker extends NoiseGatedReferenceTracker {
  protected relative(refVolts: number): number {
    return refVolts / 1.0;
  }
}

export class UnityReferenceTracker extends NoiseGatedReferenceTracker {
  private initial: number | undefined;

  constructor(
    channel: PdChannel,
    referenceEmaWeight: number,
    logger: Logger,
    interval: number | undefined,
    private readonly experiment: string,
    /** Persistent cache `ir_led_reference_normalization` (experiment → first REF volts). */
    private readonly cache: KeyValueCache,
  ) {
    super(channel, referenceEmaWeight, logger, interval);
    const cached = Number(cache.getString(experiment));
    this.initial = cache.has(experiment) && Number.isFinite(cached) && cached !== 0 ? cached : undefined;
  }

  protected relative(refVolts: number): number {
    if (this.initial === undefined) {
      this.initial = refVolts;
      this.cache.set(this.experiment, refVolts);
      this.logger.debug(`Set ir_led_reference_normalization cache to ${formatPyFloat(refVolts)}.`);
    }
    return refVolts / this.initial;
  }
}
