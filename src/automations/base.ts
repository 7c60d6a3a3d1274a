/**
 * What every automation job shares (the original's AutomationJob): `automation_name` and
 * `latest_event` settings, the `<job>_settings` history message after every change of a settable
 * setting, the latest OD / growth-rate readings from other jobs, and the ways `execute()` is
 * scheduled — periodically (`runEvery`), from an incoming reading (`triggerRunOnceFromEvent`),
 * or by the subclass itself.
 */
import { type BackgroundJobOptions, BackgroundJob, type JobDeps, type JobState, type SettingSpec } from "../jobs/background-job";
import { RepeatedTimer } from "../jobs/repeated-timer";
import { encodeMsgspecJson } from "../pubsub/codec";
import { type AutomationEvent, decodeGrowthRate, decodeODFiltered, decodeODFused, decodeODReadings, type ODReadings } from "../pubsub/structs";
import type { MqttMessage } from "../pubsub/types";
import { formatPayloadTimestamp } from "../util/python-format";
import { automationEvent, displayEvent } from "./events";

export const DISALLOWED_AUTOMATION_NAMES = new Set(["config"]);
const STALE_READING_MS = 5 * 60 * 1000;
const FIRST_READING_TIMEOUT_MS = 10_000;

/** A job the automation needs is not running, or its readings are missing or stale. */
export class JobRequiredError extends Error {
  override name = "JobRequiredError";
}

/** A CLI or `/set` value outside what the automation accepts; the message names the allowed range. */
export class AutomationSettingError extends Error {
  override name = "AutomationSettingError";
}

export type BiomassSignal = "normalized_od" | "od_fused" | "od";

interface Reading<T> {
  value: T | undefined;
  previous: T | undefined;
  atMs: number;
  waiters: Array<() => void>;
}

function emptyReading<T>(): Reading<T> {
  return { value: undefined, previous: undefined, atMs: 0, waiters: [] };
}

export interface AutomationJobOptions extends BackgroundJobOptions {
  automationName: string;
}

export abstract class AutomationJob extends BackgroundJob {
  readonly automationName: string;
  /** Settable settings in declaration order (plus `state` last), the shape of `<job>_settings`. */
  private readonly settableNames: string[];
  private settingsPeriodStartedMs: number;
  private automationTimer: RepeatedTimer | undefined;
  private startStrategy: (() => void | Promise<void>) | undefined;
  private strategyStarted = false;
  private running = false;
  private triggerPending = false;
  private lastRunMs: number | undefined;

  protected readonly normalizedOd = emptyReading<number>();
  protected readonly growthRate = emptyReading<number>();
  /** The last `ods` as decoded (shared with the unit's other subscribers); `latestOd` picks the ODs out. */
  protected readonly ods = emptyReading<ODReadings["ods"]>();
  protected readonly odFused = emptyReading<number>();

  constructor(deps: JobDeps, options: AutomationJobOptions) {
    super(deps, options);
    if (DISALLOWED_AUTOMATION_NAMES.has(options.automationName)) throw new Error(`${options.automationName} is not allowed.`);
    this.automationName = options.automationName;
    this.settableNames = [...Object.entries(options.settings).filter(([, s]) => s.settable).map(([n]) => n), "state"];
    this.settingsPeriodStartedMs = deps.clock.now();
  }

  /** The automation's decision; return an event to record it, or undefined for none. */
  protected async execute(): Promise<AutomationEvent | undefined> {
    return automationEvent("NoEvent");
  }

  /** The automation's own start-up (the original's subclass constructor body). */
  protected async setupAutomation(): Promise<void> {}

  protected override async setup(): Promise<void> {
    this.logger.info(`Starting ${this.automationName}.`);
    this.addSetting("automation_name", { datatype: "string", settable: false }, this.automationName);
    this.addSetting("latest_event", { datatype: "AutomationEvent", settable: false });
    // The original publishes the empty event and then the name once more; kept for identical traffic.
    this.setSetting("latest_event", null);
    this.setSetting("automation_name", this.automationName);
    this.settingsPeriodStartedMs = this.clock.now();
    await this.setupAutomationBase();
    await this.setupAutomation();
  }

  /** Family hook between the common set-up and the automation's own (dosing seeds the vial state). */
  protected async setupAutomationBase(): Promise<void> {}

  /** Every assignment of a settable setting also publishes the settings history message. */
  protected override setSetting(name: string, value: unknown): void {
    super.setSetting(name, value);
    if (name !== "state" && this.settableNames.includes(name)) this.publishSettingsHistory();
  }

  private publishSettingsHistory(): void {
    const endedMs = this.clock.now();
    const settings: Record<string, unknown> = {};
    for (const name of this.settableNames) settings[name] = this.getSetting(name) ?? null;
    this.publishRaw(
      this.settingTopic(`${this.jobName}_settings`),
      encodeMsgspecJson({
        pioreactor_unit: this.unit,
        experiment: this.experiment,
        started_at: formatPayloadTimestamp(this.settingsPeriodStartedMs),
        ended_at: formatPayloadTimestamp(endedMs),
        automation_name: this.automationName,
        settings: Buffer.from(encodeMsgspecJson(settings), "utf8"),
      }),
      { qos: 2, retain: false },
    );
    this.settingsPeriodStartedMs = this.clock.now();
  }

  // ------------------------------------------------------------------ scheduling

  /** Runs `execute()` every `durationMinutes`, starting once the job is ready. */
  protected runEvery(durationMinutes: number, opts: { skipFirstRun?: boolean; runAfterSeconds?: number } = {}): void {
    checkDuration(durationMinutes);
    this.setSetting("duration", durationMinutes);
    this.setters.duration = (v) => this.changeDuration(Number(v));
    this.onStrategyStart(() =>
      this.startPeriodicTimer(durationMinutes, opts.skipFirstRun ?? false, opts.skipFirstRun ? 0 : (opts.runAfterSeconds ?? 0)),
    );
  }

  private changeDuration(minutes: number): void {
    checkDuration(minutes);
    this.setSetting("duration", minutes);
    const sinceLast = this.lastRunMs === undefined ? Number.POSITIVE_INFINITY : (this.clock.now() - this.lastRunMs) / 1000;
    this.startPeriodicTimer(minutes, false, Math.max(0, minutes * 60 - sinceLast));
  }

  private startPeriodicTimer(minutes: number, skipFirstRun: boolean, runAfterSeconds: number): void {
    this.automationTimer?.cancel();
    this.automationTimer = new RepeatedTimer(
      this.clock,
      () => this.runOnce().then(() => undefined),
      { intervalMs: minutes * 60_000, runAfterMs: runAfterSeconds * 1000, runImmediately: !skipFirstRun },
      (e) => this.logger.error(String(e)),
    ).start();
  }

  /** Runs `execute()` now unless a run is in progress, in which case one more run follows it. */
  protected triggerRunOnceFromEvent(): void {
    if (this.running) {
      this.triggerPending = true;
      return;
    }
    void (async () => {
      do {
        this.triggerPending = false;
        await this.runOnce({ allowedStates: ["ready"] });
      } while (this.triggerPending && this.state !== "disconnected");
    })();
  }

  /** One non-overlapping `execute()`; errors become an `ErrorOccurred` event. */
  async runOnce(opts: { allowedStates?: JobState[] } = {}): Promise<AutomationEvent | undefined> {
    if (this.state === "disconnected" || this.running) return undefined;
    if (!(opts.allowedStates ?? ["ready"]).includes(this.state)) return undefined;
    this.running = true;
    try {
      let event: AutomationEvent | undefined;
      try {
        event = await this.execute();
        if (event) this.logger.info(displayEvent(event));
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (e instanceof JobRequiredError) this.logger.warning(message);
        else this.logger.error(message);
        event = automationEvent("ErrorOccurred", message);
      }
      if ((this.state as JobState) !== "disconnected") this.setSetting("latest_event", event ?? null);
      this.lastRunMs = this.clock.now();
      return event;
    } finally {
      this.running = false;
    }
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * How the automation first runs (the original's strategy start callback), begun once the job
   * has reported `Ready.`, as the original does after its `__post__init__`.
   */
  protected onStrategyStart(start: () => void | Promise<void>): void {
    this.startStrategy = start;
  }

  override async start(): Promise<this> {
    await super.start();
    if (this.state === "ready" && !this.strategyStarted) {
      this.strategyStarted = true;
      await this.startStrategy?.();
    }
    return this;
  }

  protected override async onTransition(from: JobState, to: JobState): Promise<void> {
    if (from === "sleeping" && to === "ready") this.automationTimer?.unpause();
  }

  protected override async onSleeping(): Promise<void> {
    this.automationTimer?.pause();
  }

  protected override async onDisconnected(): Promise<void> {
    this.automationTimer?.cancel();
    this.automationTimer = undefined;
  }

  // ------------------------------------------------------------------ readings from other jobs

  protected override async startPassiveListeners(): Promise<void> {
    const base = `pioreactor/${this.unit}/${this.experiment}`;
    await this.subscribe(`${base}/growth_rate_calculating/od_filtered`, (m) => this.onNormalizedOd(m), { serialised: false });
    await this.subscribe(`${base}/growth_rate_calculating/growth_rate`, (m) => this.onGrowthRate(m), { serialised: false });
    await this.subscribe(`${base}/od_reading/ods`, (m) => this.onOds(m), { serialised: false });
    await this.subscribe(`${base}/od_reading/od_fused`, (m) => this.onOdFused(m), { serialised: false });
  }

  protected onNormalizedOd(m: MqttMessage): void {
    if (m.payload.length === 0) return;
    const d = decodeODFiltered(m.payload);
    if (d.ok) record(this.normalizedOd, d.value.od_filtered, d.value.timestamp);
  }

  protected onGrowthRate(m: MqttMessage): void {
    if (m.payload.length === 0) return;
    const d = decodeGrowthRate(m.payload);
    if (d.ok) record(this.growthRate, d.value.growth_rate, d.value.timestamp);
  }

  protected onOds(m: MqttMessage): void {
    if (m.payload.length === 0) return;
    const d = decodeODReadings(m.payload);
    if (!d.ok) return;
    // Kept as decoded: every automation hears every reading, and few ever ask for the raw ODs.
    record(this.ods, d.value.ods, d.value.timestamp);
  }

  protected onOdFused(m: MqttMessage): void {
    if (m.payload.length === 0) return;
    const d = decodeODFused(m.payload);
    if (d.ok) record(this.odFused, d.value.od_fused, d.value.timestamp);
  }

  async latestNormalizedOd(): Promise<number> {
    return this.fresh(this.normalizedOd, ["od_reading", "growth_rate_calculating"], "`growth_rate_calculating` should publish an od_filtered reading.");
  }

  async latestGrowthRate(): Promise<number> {
    return this.fresh(this.growthRate, ["od_reading", "growth_rate_calculating"], "`growth_rate_calculating` should publish a growth_rate reading.");
  }

  async latestOd(): Promise<Record<string, number>> {
    const readings = await this.fresh(this.ods, ["od_reading"], "`od_reading` should publish raw OD readings.");
    const ods: Record<string, number> = {};
    for (const [channel, reading] of Object.entries(readings)) if (reading) ods[channel] = reading.od;
    return ods;
  }

  async latestOdFused(): Promise<number> {
    return this.fresh(this.odFused, ["od_reading"], "`od_reading` should publish fused OD readings.");
  }

  async latestBiomassValue(signal: BiomassSignal, odChannel?: string): Promise<number> {
    if (signal === "normalized_od") return this.latestNormalizedOd();
    if (signal === "od_fused") return this.latestOdFused();
    if (odChannel === undefined) throw new Error("od_channel is required when biomass_signal is 'od'.");
    const value = (await this.latestOd())[odChannel];
    if (value === undefined) throw new JobRequiredError(`\`od_reading\` publishes no channel ${odChannel}.`);
    return value;
  }

  /** The value, waiting up to 10 s for a first one; refuses values older than 5 minutes. */
  private async fresh<T>(reading: Reading<T>, producers: string[], missing: string): Promise<T> {
    if (reading.value === undefined) {
      this.logger.debug("Waiting for OD and growth rate data to arrive");
      const notRunning = producers.filter((p) => this.deps.registry.runningJobId(p) === undefined);
      if (notRunning.length > 0) throw new JobRequiredError(`${producers.map((p) => `\`${p}\``).join(" and ")} should be Ready.`);
      await new Promise<void>((resolve) => {
        const t = this.clock.setTimeout(resolve, FIRST_READING_TIMEOUT_MS);
        reading.waiters.push(() => {
          t.cancel();
          resolve();
        });
      });
      if (reading.value === undefined) throw new JobRequiredError(missing);
    }
    if (this.clock.now() - reading.atMs > STALE_READING_MS) {
      throw new JobRequiredError(`readings are too stale (over 5 minutes old) - are ${producers.map((p) => `\`${p}\``).join(" and ")} running?`);
    }
    return reading.value as T;
  }
}

function record<T>(reading: Reading<T>, value: T, timestamp: { text?: string } | string | unknown): void {
  reading.previous = reading.value;
  reading.value = value;
  reading.atMs = timestampMs(timestamp);
  const waiters = reading.waiters.splice(0);
  for (const w of waiters) w();
}

function timestampMs(t: unknown): number {
  if (typeof t === "string") return Date.parse(t);
  if (t && typeof t === "object") {
    const o = t as Record<string, unknown>;
    if (typeof o.epochMs === "number") return o.epochMs;
    if (typeof o.ms === "number") return o.ms;
    if (typeof o.text === "string") return Date.parse(o.text);
    if (typeof o.iso === "string") return Date.parse(o.iso);
  }
  return Number.NaN;
}

export function checkDuration(minutes: number): void {
  if (!(minutes > 0) || !Number.isFinite(minutes)) {
    throw new AutomationSettingError(`duration must be greater than 0 minutes (got ${minutes}).`);
  }
}

/** `--key value` strings from the CLI as a number, or a clear error naming the option. */
export function numberArg(args: Record<string, unknown>, key: string, fallback?: number): number {
  const raw = args[key];
  if (raw === undefined || raw === null || raw === "") {
    if (fallback !== undefined) return fallback;
    throw new AutomationSettingError(`Missing --${key.replace(/_/g, "-")} <number>.`);
  }
  const n = typeof raw === "number" ? raw : Number(String(raw).trim());
  if (!Number.isFinite(n)) throw new AutomationSettingError(`--${key.replace(/_/g, "-")} must be a number (got ${String(raw)}).`);
  return n;
}

/** The original's lenient boolean for `skip_first_run`. */
export function boolArg(raw: unknown): boolean {
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "number") return raw !== 0;
  if (typeof raw === "string") return ["1", "true", "yes", "on"].includes(raw.trim().toLowerCase());
  return false;
}

export type { SettingSpec };
