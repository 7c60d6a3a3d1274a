/**
 * Photodiode sampling for OD reading (the original's ADCReader): dark offsets, gain tuning with
 * the IR LED on, and one reading = 40 jittered samples per channel reduced to a single robust
 * estimate. The estimator removes mains ripple with a sine fit when the ADC can see it, and is
 * pulled toward the previous estimate (a ridge penalty) so readings are smooth but unbiased.
 *
 * Raw ADC units are kept for offsets and priors (as the original does) because the gain may
 * change between readings; estimates are converted to volts at the end.
 */
import type { AdcInput } from "../hardware/ports";
import type { PdChannel } from "../pubsub/structs";
import type { Clock } from "../util/clock";
import { formatPyFloat } from "../util/python-format";
import type { Logger } from "./logger";

/** Python's `repr` of a `{channel: float}` dict, for log lines the original prints. */
export function pyFloatDictRepr(values: ReadonlyMap<string, number> | Record<string, number>): string {
  const entries = values instanceof Map ? [...values.entries()] : Object.entries(values);
  return `{${entries.map(([k, v]) => `'${k}': ${formatPyFloat(v)}`).join(", ")}}`;
}

/** `mean_n = (1 − α)·x + α·mean_{n−1}`: α is the weight on the *old* value, as in the original. */
export class ExponentialMovingAverage {
  private value: number | undefined;
  constructor(readonly alpha: number) {
    if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`EMA weight must be between 0 and 1, got ${alpha}`);
  }
  update(x: number): number {
    this.value = this.value === undefined ? x : (1 - this.alpha) * x + this.alpha * this.value;
    return this.value;
  }
  latest(): number {
    if (this.value === undefined) throw new Error("No values provided yet!");
    return this.value;
  }
  hasValue(): boolean {
    return this.value !== undefined;
  }
  clear(): void {
    this.value = undefined;
  }
}

/** Golden-ratio fractional jitter: spreads samples so a periodic disturbance is not aliased. */
const PHI_FRACTION = 0.618034;
const FREQUENCIES_TO_TRY = [60.0, 50.0];

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Drops one minimum and one maximum (by first occurrence); returns the kept indices too. */
export function trimExtrema(values: readonly number[]): { kept: number[]; keptIndices: number[] } {
  if (values.length <= 2) return { kept: [...values], keptIndices: values.map((_, i) => i) };
  let argmin = 0;
  let argmax = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i] < values[argmin]) argmin = i;
    if (values[i] > values[argmax]) argmax = i;
  }
  const keptIndices = values.map((_, i) => i).filter((i) => i !== argmin && i !== argmax);
  return { kept: keptIndices.map((i) => values[i]), keptIndices };
}

/**
 * The mean of `trimExtrema(values).kept` and how many were kept, summed in the same order (so bit
 * for bit the same) but without building the kept arrays: this runs for every channel of every reading.
 */
function trimmedMeanAndCount(values: readonly number[]): { mean: number; count: number } {
  const n = values.length;
  let argmin = -1;
  let argmax = -1;
  if (n > 2) {
    argmin = 0;
    argmax = 0;
    for (let i = 1; i < n; i++) {
      if (values[i] < values[argmin]) argmin = i;
      if (values[i] > values[argmax]) argmax = i;
    }
  }
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (i === argmin || i === argmax) continue;
    sum += values[i];
    count++;
  }
  return { mean: sum / count, count };
}

export function trimmedMeanWithPrior(values: readonly number[], prior: number | undefined, penalizer: number): number {
  const { mean: m, count } = trimmedMeanAndCount(values);
  if (count === 0) return 0;
  if (prior !== undefined && penalizer) return (count * m + penalizer * prior) / (count + penalizer);
  return m;
}

/** Solves a 3×3 system by Gaussian elimination with partial pivoting; undefined when singular. */
function solve3(m: number[][], y: number[]): number[] | undefined {
  const a = m.map((row, i) => [...row, y[i]]);
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    if (Math.abs(a[pivot][col]) < 1e-300) return undefined;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let r = col + 1; r < 3; r++) {
      const f = a[r][col] / a[col][col];
      for (let k = col; k < 4; k++) a[r][k] -= f * a[col][k];
    }
  }
  const x = [0, 0, 0];
  for (let r = 2; r >= 0; r--) {
    let s = a[r][3];
    for (let k = r + 1; k < 3; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x.every(Number.isFinite) ? x : undefined;
}

/**
 * Least squares `y ≈ C + b·sin(2πft) + c·cos(2πft)` after dropping the extreme samples, with a
 * ridge penalty pulling C toward `prior`. Returns C and the fit's AIC (for choosing f).
 */
export function sineFitWithKnownFrequency(
  times: readonly number[],
  values: readonly number[],
  freq: number,
  prior?: number,
  penalizer = 0,
): { offset: number; aic: number } {
  const { kept: y, keptIndices } = trimExtrema(values);
  const t = keptIndices.map((i) => times[i]);
  const n = y.length;
  const sin = t.map((x) => Math.sin(2 * Math.PI * freq * x));
  const cos = t.map((x) => Math.cos(2 * Math.PI * freq * x));
  const sum = (f: (i: number) => number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += f(i);
    return s;
  };
  // A prior of exactly 0 counts as "no prior", as in the original.
  const usePrior = Boolean(prior) && Boolean(penalizer);
  const lhsPenalty = usePrior ? penalizer : 0;
  const rhsPenalty = usePrior ? penalizer * (prior as number) : 0;
  const sumSin = sum((i) => sin[i]);
  const sumCos = sum((i) => cos[i]);
  const sumSinCos = sum((i) => sin[i] * cos[i]);
  const m = [
    [n + lhsPenalty, sumSin, sumCos],
    [sumSin, sum((i) => sin[i] ** 2), sumSinCos],
    [sumCos, sumSinCos, sum((i) => cos[i] ** 2)],
  ];
  const rhs = [sum((i) => y[i]) + rhsPenalty, sum((i) => y[i] * sin[i]), sum((i) => y[i] * cos[i])];
  const solution = solve3(m, rhs);
  if (!solution) return { offset: n ? mean(y) : 0, aic: 1e10 };
  const [C, b, c] = solution;
  const sse = sum((i) => (y[i] - (C + b * sin[i] + c * cos[i])) ** 2);
  const aic = sse > 1e-20 ? n * Math.log(sse / n) + 2 * 3 : Number.NEGATIVE_INFINITY;
  return { offset: C, aic };
}

export interface PhotodiodeSamplerOptions {
  /** Signal channels first, the REF channel (if any) last, as the original orders them. */
  channels: PdChannel[];
  inputs: Record<string, AdcInput>;
  clock: Clock;
  logger: Logger;
  /** Re-pick the ADC gain from the signal level (off with fake data). */
  dynamicGain: boolean;
  /** Smoothing toward the previous estimate per sample: `smoothing_penalizer / interval` (0 = none). */
  penalizer: number;
  oversamplingCount?: number;
  /** `[od_reading.config] local_ac_hz`; estimated from the first tuning sweep when undefined. */
  acHz?: number;
  useDarkOffsets: boolean;
  /** A channel's smoothed signal is above the safe limit (3.2 V: stop; 3.0 V: warn). */
  onVoltageTooHigh(volts: number, severity: "shutdown" | "warning"): void | Promise<void>;
}

/** One sweep's samples: one array per channel, in `channels` order (see `PhotodiodeSampler.sweep`). */
interface SweepArrays {
  samples: number;
  times: number[][];
  raw: number[][];
}

function sweepArrays(channels: number, samples: number): SweepArrays {
  const filled = (): number[] => {
    const a: number[] = [];
    for (let k = 0; k < samples; k++) a.push(0);
    return a;
  };
  const times: number[][] = [];
  const raw: number[][] = [];
  for (let i = 0; i < channels; i++) {
    times.push(filled());
    raw.push(filled());
  }
  return { samples, times, raw };
}

/**
 * One sweep over inputs with `readRawSync`, as `PhotodiodeSampler.awaitedSweep` does it but
 * continued from clock timers: each wait is `clock.setTimeout(step, ms)` where the awaited sweep
 * sleeps the same `ms`, so reads happen at the same instants and timers are queued in the same
 * order. Starts at once (the first reads happen in the constructor, as an async sweep's would).
 */
class TimedSweep {
  readonly done: Promise<SweepArrays>;
  private resolve!: (arrays: SweepArrays) => void;
  private reject!: (e: unknown) => void;
  private k = 0;
  private readonly start: number;

  constructor(
    private readonly clock: Clock,
    private readonly inputs: readonly AdcInput[],
    private readonly arrays: SweepArrays,
    private readonly spacingS: number,
    private readonly onFailure: (arrays: SweepArrays) => void,
  ) {
    this.done = new Promise<SweepArrays>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.start = clock.now();
    this.step();
  }

  private readonly step = (): void => {
    const { clock, inputs, arrays } = this;
    const { times, raw, samples } = arrays;
    try {
      while (this.k < samples) {
        const k = this.k++;
        const sweepStart = clock.now();
        for (let i = 0; i < inputs.length; i++) {
          times[i][k] = (clock.now() - this.start) / 1000;
          raw[i][k] = inputs[i].readRawSync!();
        }
        const tookS = (clock.now() - sweepStart) / 1000;
        const waitS = -tookS + this.spacingS * ((k * PHI_FRACTION) % 1);
        if (waitS > 0) {
          clock.setTimeout(this.step, Math.max(0, waitS * 1000));
          return;
        }
      }
    } catch (e) {
      this.onFailure(arrays);
      this.reject(e);
      return;
    }
    this.resolve(arrays);
  };
}

export class PhotodiodeSampler {
  readonly channels: PdChannel[];
  /** `opts.inputs` in `channels` order. */
  private readonly inputs: AdcInput[];
  /** Every input answers without waiting (`readRawSync`): a sweep then awaits only its sleeps. */
  private readonly syncReads: boolean;
  private readonly offsets = new Map<PdChannel, number>();
  /** Per channel, in `channels` order. */
  private readonly signalEma: ExponentialMovingAverage[] = [];
  /** The last reading's volts per channel (in `channels` order); undefined before the first. */
  private readonly previous: Array<number | undefined> = [];
  private acHz: number | undefined;
  private readonly oversampling: number;
  /**
   * The arrays of the last sweep, reused by the next one (a reading's samples are consumed
   * before the reading resolves). `scratchInUse` while a sweep or its consumer holds them: a
   * reading overlapping another then gets arrays of its own.
   */
  private scratch: SweepArrays | undefined;
  private scratchInUse = false;

  constructor(private readonly opts: PhotodiodeSamplerOptions) {
    this.channels = opts.channels;
    this.oversampling = opts.oversamplingCount ?? 40;
    this.acHz = opts.acHz;
    this.inputs = [];
    for (const c of this.channels) {
      if (!opts.inputs[c]) throw new Error(`No ADC input for photodiode channel pd${c}.`);
      this.inputs.push(opts.inputs[c]);
      this.signalEma.push(new ExponentialMovingAverage(0.05));
      this.previous.push(undefined);
    }
    this.syncReads = this.inputs.every((input) => typeof input.readRawSync === "function");
  }

  get mainsFrequency(): number | undefined {
    return this.acHz;
  }

  private input(channel: PdChannel): AdcInput {
    return this.opts.inputs[channel];
  }

  /** The ADS1114 has one input per chip and no mains pick-up worth fitting. */
  private isSingleInputChip(channel: PdChannel): boolean {
    return this.input(channel).driver === "ads1114";
  }

  /** Arrays for a sweep of `samples`: the reusable ones when free (release with `releaseArrays`). */
  private acquireArrays(samples: number): SweepArrays {
    if (this.scratchInUse) return sweepArrays(this.inputs.length, samples);
    if (this.scratch?.samples !== samples) this.scratch = sweepArrays(this.inputs.length, samples);
    this.scratchInUse = true;
    return this.scratch;
  }

  private releaseArrays(arrays: SweepArrays): void {
    if (arrays === this.scratch) this.scratchInUse = false;
  }

  /**
   * `samples` sweeps over every channel spread over `spanSeconds`; times are seconds since the
   * first. Both come back as one array per channel, in `channels` order (indexed, not keyed, as
   * this runs for every sample of every reading). The caller releases the arrays when done.
   *
   * Inputs that answer at once (the simulator) are swept by a `TimedSweep` on clock timers: the
   * same reads at the same instants, without an await (a promise and a suspended frame) per wait.
   */
  private sweep(samples: number, spanSeconds: number): Promise<SweepArrays> {
    const arrays = this.acquireArrays(samples);
    const spacingS = spanSeconds / (samples - 1);
    if (this.syncReads) return new TimedSweep(this.opts.clock, this.inputs, arrays, spacingS, this.releaseOnFailure).done;
    return this.awaitedSweep(arrays, spacingS);
  }

  private readonly releaseOnFailure = (arrays: SweepArrays): void => this.releaseArrays(arrays);

  private async awaitedSweep(arrays: SweepArrays, spacingS: number): Promise<SweepArrays> {
    const { clock } = this.opts;
    const inputs = this.inputs;
    try {
      const { times, raw, samples } = arrays;
      const start = clock.now();
      for (let k = 0; k < samples; k++) {
        const sweepStart = clock.now();
        for (let i = 0; i < inputs.length; i++) {
          times[i][k] = (clock.now() - start) / 1000;
          raw[i][k] = await inputs[i].readRaw();
        }
        const tookS = (clock.now() - sweepStart) / 1000;
        const waitS = -tookS + spacingS * ((k * PHI_FRACTION) % 1);
        if (waitS > 0) await clock.sleep(waitS * 1000);
      }
    } catch (e) {
      this.releaseArrays(arrays);
      throw e;
    }
    return arrays;
  }

  /**
   * With the IR LED on: resets gains, takes 10 sweeps, estimates the mains frequency if unknown,
   * checks for over-voltage and picks each channel's gain. Returns mean volts per channel.
   */
  async tuneWithIrOn(): Promise<Map<PdChannel, number>> {
    for (const c of this.channels) await this.input(c).setGain(1);
    const arrays = await this.sweep(10, 0.25);
    const { times, raw } = arrays;
    const out = new Map<PdChannel, number>();
    try {
      for (const [i, c] of this.channels.entries()) {
        if (this.acHz === undefined && !this.isSingleInputChip(c)) this.acHz = this.estimateMainsFrequency(times[0], raw[0]);
        const volts = this.input(c).rawToVolts(mean(raw[i]));
        if (volts > 3.0) await this.voltageTooHigh(volts);
        if (this.opts.dynamicGain) await this.input(c).adjustGainFor(volts);
        out.set(c, volts);
      }
    } finally {
      this.releaseArrays(arrays);
    }
    for (const c of this.channels) {
      const input = this.input(c);
      this.opts.logger.debug(`Setting ADC class ${input.driver} for pd${c} with initial gain ${formatPyFloat(input.gain)}.`);
    }
    return out;
  }

  /** From the first channel's samples (the original fits the first channel only). */
  private estimateMainsFrequency(times: readonly number[], raw: readonly number[]): number {
    let best = FREQUENCIES_TO_TRY[0];
    let bestAic = Number.POSITIVE_INFINITY;
    for (const f of FREQUENCIES_TO_TRY) {
      const { aic } = sineFitWithKnownFrequency(times, raw, f);
      if (aic < bestAic) {
        bestAic = aic;
        best = f;
      }
    }
    this.opts.logger.debug(`AC hz estimate: ${formatPyFloat(best)}`);
    return best;
  }

  /** Dark offsets (raw units) from a reading taken with every LED off. */
  setDarkOffsets(dark: Map<PdChannel, number>): void {
    for (const [c, volts] of dark) this.offsets.set(c, this.opts.useDarkOffsets ? this.input(c).voltsToRaw(volts) : 0);
    const volts = new Map([...this.offsets].map(([c, raw]) => [c, this.input(c).rawToVolts(raw)]));
    this.opts.logger.debug(`ADC offsets: ${pyFloatDictRepr(this.offsets)}, and in voltage: ${pyFloatDictRepr(volts)}`);
  }

  /** Forget the previous estimates (so dark readings do not pull the first real one). */
  clearHistory(): void {
    this.previous.fill(undefined);
  }

  /** One reading: volts per channel (≥ 0), in channel order. */
  async takeReading(): Promise<Map<PdChannel, number>> {
    const arrays = await this.sweep(this.oversampling, 0.85);
    const { times, raw } = arrays;
    const estimates = new Map<PdChannel, number>();
    const penalizer = this.opts.penalizer * this.oversampling;
    try {
      for (let i = 0; i < this.channels.length; i++) {
        const c = this.channels[i];
        const input = this.inputs[i];
        const offset = this.offsets.get(c) ?? 0;
        // The sweep's arrays are this reading's own: shift in place rather than copy.
        const shifted = raw[i];
        for (let k = 0; k < shifted.length; k++) shifted[k] = Math.max(shifted[k] - offset, 0);
        const previousVolts = this.previous[i];
        const prior = previousVolts === undefined ? undefined : input.voltsToRaw(previousVolts);
        const rawEstimate =
          this.isSingleInputChip(c) || this.acHz === undefined
            ? trimmedMeanWithPrior(shifted, prior, penalizer)
            : sineFitWithKnownFrequency(times[i], shifted, this.acHz, prior, penalizer).offset;
        const volts = Math.round(input.rawToVolts(rawEstimate) * 1e10) / 1e10;
        estimates.set(c, Math.max(volts, 0));
        const smoothed = this.signalEma[i].update(volts);
        if (smoothed > 3.0) await this.voltageTooHigh(smoothed);
        // Without a programmable gain (the HAT MCU) the adjustment is a no-op: spare the async call.
        if (this.opts.dynamicGain && input.hasGain) {
          if (input.adjustGainForSync) input.adjustGainForSync(smoothed);
          else await input.adjustGainFor(smoothed);
        }
      }
    } finally {
      this.releaseArrays(arrays);
    }
    // The priors of the next reading (only once this one is complete, as before).
    for (let i = 0; i < this.channels.length; i++) this.previous[i] = estimates.get(this.channels[i]);
    return estimates;
  }

  /**
   * For volts above 3.0 V (callers check first, so a normal reading does not pay for an async call
   * per channel): 3.2 V stops the job, above 3.0 V warns.
   */
  private async voltageTooHigh(volts: number): Promise<void> {
    if (volts > 3.2) await this.opts.onVoltageTooHigh(volts, "shutdown");
    else await this.opts.onVoltageTooHigh(volts, "warning");
  }
}
