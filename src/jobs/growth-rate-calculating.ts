/**
 * `growth_rate_calculating`: turns od_reading's `ods` stream into a growth rate (h⁻¹) and a
 * filtered, normalised OD, with the culture-growth EKF. The first readings calibrate it: their
 * per-channel median becomes the normalisation (kept per experiment in the persistent cache
 * `od_normalization_mean`, so a restart continues on the same scale) and their scatter sets the
 * noise model. Dosing events tell the filter an OD step is a dilution, not a growth change.
 * Settings, topics and log lines follow the original (wire capture 04).
 */
import { encodeMsgspecJson } from "../pubsub/codec";
import { decodeDosingEvent, decodeODReadings, type ODReadings, type PdChannel } from "../pubsub/structs";
import type { MqttMessage } from "../pubsub/types";
import { formatPayloadTimestamp, formatPyFloat } from "../util/python-format";
import { BackgroundJob, type JobDeps } from "./background-job";
import { CultureGrowthEKF, diagonal } from "./growth-rate-ekf";
import { type JobCommand, runInForeground } from "./job-command";
import type { KeyValueCache } from "./local-storage";
import type { Logger } from "./logger";
import { pyFloatDictRepr } from "./od-reading-adc";
import { samplesPerSecond } from "./od-reading";
import type { ConfigReader } from "../config/types";

/** Readings right after od_reading starts are still settling (its smoothing prior is empty). */
export const INITIAL_OD_OBSERVATIONS_TO_SKIP = 5;
/** Readings after a dosing event during which the filter expects an OD step. */
export const POST_DOSE_OBSERVATIONS = 2;

export interface GrowthRateSettings {
  samplesPerSecond: number;
  samplesForOdStatistics: number;
  outlierStdThreshold: number;
}

/** Reads and checks the config keys, naming the allowed range when one is off. */
export function growthRateSettingsFromConfig(config: ConfigReader): GrowthRateSettings {
  const sps = samplesPerSecond(config);
  const samples = config.getInt("growth_rate_calculating.config", "samples_for_od_statistics", 10);
  if (!(samples >= 1)) {
    throw new Error(
      `Invalid [growth_rate_calculating.config] samples_for_od_statistics=${samples}. Expected a value >= 1.`,
    );
  }
  const threshold = config.getFloat("growth_rate_calculating.config", "ekf_outlier_std_threshold", 5.0);
  if (!(threshold > 2)) {
    throw new Error(
      `Invalid [growth_rate_calculating.config] ekf_outlier_std_threshold=${formatPyFloat(threshold)}. Expected a value > 2.`,
    );
  }
  return { samplesPerSecond: sps, samplesForOdStatistics: samples, outlierStdThreshold: threshold };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** 1.4826 × median absolute deviation: a standard deviation that ignores outliers. */
export function robustStd(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const m = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

/** Residuals of the least-squares line through (t, y). */
function linearFitResiduals(t: readonly number[], y: readonly number[]): number[] {
  const n = t.length;
  const mt = t.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (t[i] - mt) ** 2;
    sxy += (t[i] - mt) * (y[i] - my);
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return y.map((v, i) => v - (my + slope * (t[i] - mt)));
}

/** numpy-like text for the debug lines (numbers in Python's repr). */
function matrixText(m: readonly (readonly number[])[]): string {
  return `array([${m.map((r) => `[${r.map(formatPyFloat).join(", ")}]`).join(",\n       ")}])`;
}

export interface GrowthEstimate {
  growthRate: number;
  odFiltered: number;
  timestampMs: number;
}

/**
 * The estimator without any MQTT: feed it decoded readings and dosing events in arrival order.
 * `testing` fixes dt to the expected interval, as the original does in its testing mode.
 */
export class GrowthRateEstimator {
  private odMessages = 0;
  private warmup: ODReadings[] = [];
  private ekf: CultureGrowthEKF | undefined;
  private factors = new Map<PdChannel, number>();
  private postDoseRemaining = 0;
  private previousTimestampMs: number | undefined;
  readonly expectedDtHours: number;

  constructor(
    private readonly settings: GrowthRateSettings,
    private readonly normalizationCache: KeyValueCache,
    private readonly experiment: string,
    private readonly logger: Logger,
    private readonly testing = false,
  ) {
    this.expectedDtHours = 1 / (3600 * settings.samplesPerSecond);
  }

  get initialised(): boolean {
    return this.ekf !== undefined;
  }

  get normalizationFactors(): ReadonlyMap<PdChannel, number> {
    return this.factors;
  }

  onDosingEvent(): void {
    if (this.ekf) {
      this.postDoseRemaining = POST_DOSE_OBSERVATIONS;
      return;
    }
    if (this.warmup.length > 0 || this.odMessages > INITIAL_OD_OBSERVATIONS_TO_SKIP) {
      this.logger.info("Dosing event observed during warmup. Restarting OD observation collection.");
    }
    this.warmup = [];
  }

  /** Counts a message on the OD topic (decodable or not), so the first few are skipped. */
  countOdMessage(): boolean {
    this.odMessages += 1;
    return this.odMessages > INITIAL_OD_OBSERVATIONS_TO_SKIP;
  }

  /** Returns an estimate once warmed up; throws (with a reason) for a reading it must reject. */
  onOdReadings(readings: ODReadings): GrowthEstimate | undefined {
    if (!this.ekf) {
      this.warmup.push(readings);
      if (this.warmup.length >= this.settings.samplesForOdStatistics) this.initialise();
      return undefined;
    }
    const observations = this.scaled(readings);
    const dt = this.dtHours(readings.timestamp.epochMs);
    const recentDilution = this.postDoseRemaining > 0;
    const { state } = this.ekf.update(observations, dt, recentDilution);
    if (recentDilution) this.postDoseRemaining -= 1;
    return { growthRate: state[1], odFiltered: Math.exp(state[0]), timestampMs: readings.timestamp.epochMs };
  }

  /** The normalised channels, highest first (the original's order); worked out once per set of factors. */
  private orderedChannels(): PdChannel[] {
    if (this.ordered?.factors !== this.factors) this.ordered = { factors: this.factors, channels: [...this.factors.keys()].sort().reverse() };
    return this.ordered.channels;
  }

  private ordered: { factors: ReadonlyMap<PdChannel, number>; channels: PdChannel[] } | undefined;

  /** Normalised ODs by channel, in `orderedChannels()` order. */
  private scale(readings: ODReadings): Map<PdChannel, number> {
    const values = this.scaled(readings);
    return new Map(this.orderedChannels().map((c, i) => [c, values[i]]));
  }

  /** `scale`'s values alone (every reading: an array, not a Map). */
  private scaled(readings: ODReadings): number[] {
    const channels = this.orderedChannels();
    const zero = channels.filter((c) => (this.factors.get(c) ?? 0) <= 0);
    if (zero.length) {
      throw new Error(`Non-positive OD normalization factor(s) for channel(s) ${JSON.stringify(zero)}: ${pyFloatDictRepr(this.factors)}`);
    }
    const out: number[] = [];
    for (const c of channels) {
      const reading = readings.ods[c];
      if (!reading) throw new Error(`OD reading for channel ${c} is missing; the normalization has ${channels.join(", ")}.`);
      out.push(reading.od / this.factors.get(c)!);
    }
    if (out.some((v) => v <= 0)) {
      const normalised = new Map(channels.map((c, i) => [c, out[i]]));
      throw new Error(
        `Non-positive normalized value(s) observed: ${pyFloatDictRepr(normalised)}. Likely optical signal received is less than the blank signal or OD reading is 0.`,
      );
    }
    return out;
  }

  private dtHours(timestampMs: number): number {
    if (this.testing) return this.expectedDtHours;
    if (this.previousTimestampMs === undefined) {
      this.previousTimestampMs = timestampMs;
      return this.expectedDtHours;
    }
    const dt = (timestampMs - this.previousTimestampMs) / 3_600_000;
    if (dt < 0) throw new Error(`Late arriving data: timestamp=${timestampMs}, previous=${this.previousTimestampMs}`);
    this.previousTimestampMs = timestampMs;
    return dt;
  }

  private initialise(): void {
    const warmup = this.warmup;
    this.warmup = [];
    this.logger.debug(`Collected ${warmup.length} warmup OD observations.`);
    this.factors = this.normalizationFactors_(warmup);
    this.logger.debug(`od_normalization_mean=${pyFloatDictRepr(this.factors)}`);
    this.logger.debug("Replaying warmup OD observations into the live stream.");
    const observations = warmup.map((r) => this.scale(r));
    this.logger.debug(`Warmup OD observations: [${observations.map((o) => pyFloatDictRepr(o)).join(", ")}]`);
    this.ekf = this.createFilter(observations);
  }

  private normalizationFactors_(warmup: ODReadings[]): Map<PdChannel, number> {
    const cached = this.normalizationCache.getString(this.experiment);
    if (cached) {
      try {
        const parsed = JSON.parse(cached) as Record<string, number>;
        if (Object.keys(parsed).length > 0) {
          this.logger.debug("Loaded OD normalization factors from cache.");
          return new Map(Object.entries(parsed).map(([c, v]) => [c as PdChannel, Number(v)]));
        }
      } catch {
        // An unreadable entry is recomputed, as an absent one.
      }
    }
    this.logger.info("OD normalization factors not found in cache. Computing them now.");
    const byChannel = new Map<PdChannel, number[]>();
    for (const r of warmup) {
      for (const [c, reading] of Object.entries(r.ods) as Array<[PdChannel, { od: number }]>) {
        if (!byChannel.has(c)) byChannel.set(c, []);
        byChannel.get(c)!.push(reading.od);
      }
    }
    const means = new Map([...byChannel].map(([c, xs]) => [c, median(xs)]));
    const variances = new Map([...byChannel].map(([c, xs]) => [c, Math.max(robustStd(xs) ** 2, 1e-12)]));
    this.logger.debug(`measured mean: ${pyFloatDictRepr(means)}`);
    this.logger.debug(`measured variances: ${pyFloatDictRepr(variances)}`);
    this.logger.info("Completed OD normalization metrics.");
    this.normalizationCache.set(this.experiment, Buffer.from(encodeMsgspecJson(Object.fromEntries(means)), "utf8"));
    this.logger.debug("Cached OD normalization factors computed from warmup observations.");
    if ([...variances.values()].some((v) => v === 0)) {
      this.logger.error(
        "OD variance is zero - this suggests that the OD sensor is not working properly, or a calibration is wrong.",
      );
    }
    return means;
  }

  private createFilter(observations: Array<Map<PdChannel, number>>): CultureGrowthEKF {
    this.logger.info("Initializing growth-rate filter from warmup observations.");
    const channels = this.orderedChannels();
    let R: number[];
    if (observations.length < 2) {
      R = channels.map(() => 1e-3);
    } else {
      const t = observations.map((_, i) => i * this.expectedDtHours);
      R = channels.map((c) => {
        const logs = observations.map((o) => Math.log(Math.max(o.get(c)!, 1e-9)));
        const std = Math.max(robustStd(linearFitResiduals(t, logs)), 5e-3);
        return std * std;
      });
    }
    const Rm = diagonal(R);
    this.logger.debug(`Observation noise covariance matrix:\n${matrixText(Rm)}`);
    this.logger.debug(`self.ekf_outlier_std_threshold=${formatPyFloat(this.settings.outlierStdThreshold)}`);

    const fused = observations.map((o) => [...o.values()].reduce((a, b) => a + b, 0) / o.size);
    const initialNod = median(fused.slice(-5));
    const x0 = [Math.log(Math.max(initialNod, 1e-9)), 0, 0];
    this.logger.debug(`Initial state: array([${x0.map(formatPyFloat).join(", ")}])`);
    const logFused = fused.map((v) => Math.log(Math.max(v, 1e-9)));
    const meanR = R.reduce((a, b) => a + b, 0) / R.length;
    const sigmaLogOd = Math.max(0.05, 2 * robustStd(logFused), Math.sqrt(meanR));
    const P0 = diagonal([sigmaLogOd ** 2, 0.03 ** 2, 0.05 ** 2]);
    this.logger.debug(`Initial covariance matrix:\n${matrixText(P0)}`);
    // Process noise is specified per 5-second reading and scaled to the actual interval.
    const scale = Math.max(this.expectedDtHours / (5 / 3600), 0.25);
    const Q = diagonal([1e-8 * scale, 5e-8 * scale, 5e-6 * scale]);
    this.logger.debug(`Process noise covariance matrix:\n${matrixText(Q)}`);
    return new CultureGrowthEKF(x0, P0, Q, Rm, this.settings.outlierStdThreshold);
  }
}

export class GrowthRateCalculator extends BackgroundJob {
  private estimator!: GrowthRateEstimator;
  private readonly settingsUsed: GrowthRateSettings;
  private readonly normalizationCache: KeyValueCache;
  private readonly testing: boolean;
  private readonly odTopic: string;
  private readonly dosingTopic: string;

  constructor(deps: JobDeps, normalizationCache: KeyValueCache, options: { testing?: boolean } = {}) {
    super(deps, {
      jobName: "growth_rate_calculating",
      settings: {
        growth_rate: { datatype: "GrowthRate", settable: false, unit: "h⁻¹" },
        od_filtered: { datatype: "ODFiltered", settable: false },
      },
    });
    // Checked before anything is published, so a bad config is refused up front.
    this.settingsUsed = growthRateSettingsFromConfig(deps.config);
    this.normalizationCache = normalizationCache;
    this.testing = options.testing ?? false;
    this.odTopic = `pioreactor/${deps.unit}/${deps.experiment}/od_reading/ods`;
    this.dosingTopic = `pioreactor/${deps.unit}/${deps.experiment}/dosing_events`;
  }

  protected override async setup(): Promise<void> {
    // Created here so it logs through the job's logger with its MQTT sink.
    this.estimator = new GrowthRateEstimator(this.settingsUsed, this.normalizationCache, this.experiment, this.logger, this.testing);
    this.setSetting("growth_rate", null);
    this.setSetting("od_filtered", null);
  }

  protected override async startPassiveListeners(): Promise<void> {
    await this.subscribe([this.odTopic, this.dosingTopic], (m) => this.handle(m), { allowRetained: false });
  }

  /** Like the original, which says this when it starts streaming, after `Ready.`. */
  override async start(): Promise<this> {
    await super.start();
    if (this.state === "ready") this.announceWarmup();
    return this;
  }

  private announceWarmup(): void {
    const { samplesForOdStatistics } = this.settingsUsed;
    if (samplesForOdStatistics / this.settingsUsed.samplesPerSecond >= 600) {
      this.logger.warning(
        "Due to the low `samples_per_second`, and high `samples_for_od_statistics` needed to establish a baseline, initial growth rate and nOD may take over 10 minutes to show up.",
      );
    }
    this.logger.info("Collecting warmup OD observations for growth-rate initialization.");
  }

  private handle(message: MqttMessage): void {
    if (message.topic === this.dosingTopic) {
      const event = decodeDosingEvent(message.payload);
      if (!event.ok) {
        this.logger.warning(`Failed to decode message: ${event.error}`);
        return;
      }
      this.estimator.onDosingEvent();
      return;
    }
    if (!this.estimator.countOdMessage()) return;
    const decoded = decodeODReadings(message.payload);
    if (!decoded.ok) {
      this.logger.warning(`Failed to decode message: ${decoded.error}`);
      return;
    }
    let estimate: GrowthEstimate | undefined;
    try {
      estimate = this.estimator.onOdReadings(decoded.value);
    } catch (e) {
      this.logger.error(`Error processing OD readings: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (!estimate) return;
    const timestamp = formatPayloadTimestamp(estimate.timestampMs);
    this.setSetting("growth_rate", { growth_rate: estimate.growthRate, timestamp });
    this.setSetting("od_filtered", { od_filtered: estimate.odFiltered, timestamp });
  }
}

const clearCacheCommand: JobCommand = {
  name: "clear_cache",
  summary: "Forget this experiment's OD normalization (the next run computes it afresh).",
  options: [],
  async run({ ctx }) {
    const experiment = await ctx.experiment();
    ctx.persistentCache("od_normalization_mean").delete(experiment);
    return 0;
  },
};

export const growthRateCalculatingCommand: JobCommand = {
  name: "growth_rate_calculating",
  summary: "Start calculating growth rate",
  options: [],
  subcommands: [clearCacheCommand],
  async run({ ctx }) {
    const experiment = await ctx.experiment();
    const deps = await ctx.jobDeps(experiment);
    const job = new GrowthRateCalculator(deps, ctx.persistentCache("od_normalization_mean"), { testing: ctx.testing });
    await job.start();
    return runInForeground(job);
  },
};
