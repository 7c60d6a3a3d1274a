/**
 * `od_reading`: every `interval` seconds switches the IR LED on (other LEDs off and soft-locked),
 * samples the photodiodes, normalises by the REF photodiode, applies a blank or an OD calibration,
 * and publishes `ods` plus one `od<N>` per channel. Settings, topics, payloads and publish order
 * follow the original's ODReader (wire capture 03).
 */
import path from "node:path";
import type { AdcInput, HardwareBackend, LedChannel } from "../hardware/ports";
import { LED_CHANNELS } from "../hardware/ports";
import { type LedRequest, LedController, type SetLedOptions } from "../actions/led-intensity";
import { encodeMsgspecJson } from "../pubsub/codec";
import type { PdAngle, PdChannel } from "../pubsub/structs";
import { UsageError } from "../cli/exit";
import { formatPayloadTimestamp, formatPyFloat } from "../util/python-format";
import { BackgroundJob, errorMessage, type JobDeps, type JobState } from "./background-job";
import { type JobCommand, parseFloatOption, runInForeground } from "./job-command";
import type { KeyValueCache } from "./local-storage";
import { PhotodiodeSampler } from "./od-reading-adc";
import {
  CalibrationError,
  CalibrationTransformer,
  loadActiveOdCalibration,
  loadOdBlank,
  odEntries,
  type OdReadingPayload,
  type OdReadingsPayload,
  type RawOdReadingPayload,
  subtractBlank,
  wireReading,
  wireReadings,
} from "./od-reading-calibration";
import { ClassicReferenceTracker, NoReferenceTracker, type ReferenceTracker, UnityReferenceTracker } from "./od-reading-reference";
import { RepeatedTimer } from "./repeated-timer";

export const VALID_PD_ANGLES: readonly PdAngle[] = ["45", "90", "135", "180"];
const PD_CHANNELS: readonly PdChannel[] = ["1", "2", "3", "4"];
/** Per channel, the names of its settings (built once rather than per reading). */
const SETTING_NAMES: Readonly<Record<PdChannel, { od: string; raw: string; calibrated: string }>> = {
  "1": { od: "od1", raw: "raw_od1", calibrated: "calibrated_od1" },
  "2": { od: "od2", raw: "raw_od2", calibrated: "calibrated_od2" },
  "3": { od: "od3", raw: "raw_od3", calibrated: "calibrated_od3" },
  "4": { od: "od4", raw: "raw_od4", calibrated: "calibrated_od4" },
};

/** Unit-local storage OD reading uses (the original's caches of the same names). */
export interface OdReadingStorage {
  /** Intermittent `leds` and `led_locks`. */
  leds: KeyValueCache;
  ledLocks: KeyValueCache;
  /** Persistent `od_blank`, `ir_led_reference_normalization`, `active_calibrations`. */
  odBlank: KeyValueCache;
  irLedReferenceNormalization: KeyValueCache;
  activeCalibrations: KeyValueCache;
  /** `$DOT_PIOREACTOR/storage/calibrations`. */
  calibrationsDir: string;
}

export interface OdReadingOptions {
  /** Seconds between readings; undefined = `1 / samples_per_second`; null = no timer (snapshot, od_blank drives it). */
  interval?: number | null;
  /** Percent, or "auto"; undefined = `[od_reading.config] ir_led_intensity`. */
  irLedIntensity?: number | "auto";
  /** Simulated photodiodes: fixed gain, no wait after switching LEDs. */
  fakeData?: boolean;
  /** Skip the wait between LED switching and reading (the original does in testing mode). */
  skipLedSettleWait?: boolean;
  /** Apply the active OD calibrations (default true). */
  useCalibrations?: boolean;
  /** Random source for the ~20 % `relative_intensity_of_ir_led` publications (injectable for tests). */
  random?: () => number;
  /**
   * ADC sweeps per reading (default 40, the original's). Each sweep waits on the clock, so a
   * simulated cluster whose photodiodes have no mains ripple may take fewer to run faster.
   */
  oversampling?: number;
}

export interface OdReadingHardware {
  backend: HardwareBackend;
  /** Overrides `backend.adc` for the photodiodes (`--fake-data` on a real unit). */
  photodiodeInputs?: (name: string) => AdcInput;
}

type PreReadCallback = (job: OdReader) => void | Promise<void>;
type PostReadCallback = (readings: OdReadingsPayload | undefined, job: OdReader) => void | Promise<void>;

/** `[od_config.photodiode_channel]` → REF channel and channel → angle, with clear errors. */
export function parsePhotodiodeChannels(
  section: Record<string, string | null> | undefined,
  availableInputs: readonly string[],
): { refChannel: PdChannel | undefined; angles: Partial<Record<PdChannel, PdAngle>> } {
  const entries = Object.entries(section ?? {}).filter(([, v]) => v !== null && v !== "") as Array<[string, string]>;
  if (entries.filter(([, v]) => v === "REF").length > 1) throw new Error('"REF" occurs more than once in [od_config.photodiode_channel]');
  let refChannel: PdChannel | undefined;
  const angles: Partial<Record<PdChannel, PdAngle>> = {};
  for (const [channel, value] of entries) {
    if (!PD_CHANNELS.includes(channel as PdChannel)) {
      throw new Error(`[od_config.photodiode_channel] ${channel} is not a photodiode channel; use 1, 2, 3 or 4.`);
    }
    if (value === "REF") {
      if (availableInputs.includes(`pd${channel}`)) refChannel = channel as PdChannel;
      continue;
    }
    if (!VALID_PD_ANGLES.includes(value as PdAngle)) {
      throw new Error(`angle='${value}' is not a valid angle. Must be one of ${VALID_PD_ANGLES.join(", ")}`);
    }
    angles[channel as PdChannel] = value as PdAngle;
  }
  if (Object.keys(angles).length === 0) {
    throw new Error("Need to supply a signal channel. Check `[od_config.photodiode_channel]` in your config.");
  }
  return { refChannel, angles };
}

/** The original's auto IR intensity: REF ≲ 0.25 V, the signal far below 3 V, never below 50 %. */
export function bestIrLedIntensity(
  angles: Partial<Record<PdChannel, PdAngle>>,
  initial: number,
  onReading: ReadonlyMap<PdChannel, number>,
  refChannel: PdChannel | undefined,
): number {
  const MAX = 85.0;
  const signalChannels = Object.keys(angles) as PdChannel[];
  if (signalChannels.length !== 1 || refChannel === undefined) return MAX;
  const ratio = (n: number, d: number) => (d <= 0 ? Number.POSITIVE_INFINITY : n / d);
  const byRef = ratio(initial, onReading.get(refChannel) ?? 0) * 0.25;
  const bySignal = (ratio(initial, onReading.get(signalChannels[0]) ?? 0) * 3.0) / 50;
  return Math.round(Math.max(Math.min(MAX, bySignal, byRef), 50) * 100) / 100;
}

export class OdReader extends BackgroundJob {
  private readonly hw: OdReadingHardware;
  private readonly storage: OdReadingStorage;
  private readonly options: OdReadingOptions;
  private leds!: LedController;
  private sampler!: PhotodiodeSampler;
  private tracker: ReferenceTracker = new NoReferenceTracker();
  private blank: Map<PdChannel, number> | undefined;
  private calibrations!: CalibrationTransformer;
  private angles: Partial<Record<PdChannel, PdAngle>> = {};
  private irChannel: LedChannel = "A";
  private timer: RepeatedTimer | undefined;
  private currentReading: Promise<unknown> | undefined;
  private closing = false;
  private readonly preRead: PreReadCallback[] = [];
  private readonly postRead: PostReadCallback[] = [];
  private readonly random: () => number;
  /**
   * Config values each reading uses, parsed on first use: the job's config never changes, and
   * parsing them again for every reading was ~1 % of a simulated run. Not read at start-up, so a
   * bad value still fails each reading (logged), at the point of the reading it always did.
   */
  private turnOffLedsDuringReading: boolean | undefined;
  private ledSettleSeconds: number | undefined;
  /** The LED channels other than IR (locked during a reading); fixed once `setup` knows the IR channel. */
  private otherLedChannels: LedChannel[] = [];
  /** How this job switches LEDs (silently); the same object for every reading. */
  private readonly ledOptions: SetLedOptions;
  /** `irOnRestOffState()`'s last answer and the intensity it was built for (rebuilt when that changes). */
  private irRequest: { intensity: number; request: LedRequest } | undefined;
  private lockOwnerId: string | undefined;
  /** The last successful readings (what `ods` holds). */
  latest: OdReadingsPayload | undefined;

  constructor(deps: JobDeps, hardware: OdReadingHardware, storage: OdReadingStorage, options: OdReadingOptions = {}) {
    super(deps, {
      jobName: "od_reading",
      settings: {
        first_od_obs_time: { datatype: "float", settable: false },
        ir_led_intensity: { datatype: "float", settable: true, unit: "%" },
        interval: { datatype: "float", settable: true, unit: "s" },
        relative_intensity_of_ir_led: { datatype: "json", settable: false },
        ods: { datatype: "ODReadings", settable: false },
        od1: { datatype: "ODReading", settable: false },
        od2: { datatype: "ODReading", settable: false },
        od3: { datatype: "ODReading", settable: false },
        od4: { datatype: "ODReading", settable: false },
        raw_od1: { datatype: "RawODReading", settable: false },
        raw_od2: { datatype: "RawODReading", settable: false },
        raw_od3: { datatype: "RawODReading", settable: false },
        raw_od4: { datatype: "RawODReading", settable: false },
        calibrated_od1: { datatype: "CalibratedODReading", settable: false },
        calibrated_od2: { datatype: "CalibratedODReading", settable: false },
        calibrated_od3: { datatype: "CalibratedODReading", settable: false },
        calibrated_od4: { datatype: "CalibratedODReading", settable: false },
        od_fused: { datatype: "ODFused", settable: false },
      },
    });
    this.hw = hardware;
    this.storage = storage;
    this.options = options;
    this.random = options.random ?? Math.random;
    this.setters.interval = (v) => this.setInterval(Number(v));
    this.setters.ir_led_intensity = (v) => this.setIrLedIntensity(Number(v));
    this.ledOptions = { verbose: false, sourceOfEvent: this.jobName };
  }

  get irLedIntensity(): number {
    return this.getSetting<number>("ir_led_intensity") ?? 0;
  }

  get interval(): number | undefined {
    return this.getSetting<number>("interval") ?? undefined;
  }

  /** Plugin hooks (instance-level: the original's are class-wide). */
  addPreReadCallback(fn: PreReadCallback): void {
    this.preRead.push(fn);
  }
  addPostReadCallback(fn: PostReadCallback): void {
    this.postRead.push(fn);
  }

  // ------------------------------------------------------------ start-up

  protected override async setup(): Promise<void> {
    const { backend } = this.hw;
    const inputName = (n: string) => (this.hw.photodiodeInputs ? this.hw.photodiodeInputs(n) : backend.adc.input(n));
    const { refChannel, angles } = parsePhotodiodeChannels(
      this.config.section("od_config.photodiode_channel"),
      backend.adc.inputNames(),
    );
    this.angles = angles;
    const signalChannels = Object.keys(angles) as PdChannel[];
    const interval = this.resolveInterval();

    if (refChannel !== undefined) {
      const emaWeight = this.config.getFloat("od_reading.config", "pd_reference_ema", 0.75);
      const mode = this.config.getString("od_reading.config", "ref_normalization", "classic");
      this.tracker =
        mode === "unity"
          ? new UnityReferenceTracker(refChannel, emaWeight, this.logger, interval ?? undefined, this.experiment, this.storage.irLedReferenceNormalization)
          : new ClassicReferenceTracker(refChannel, emaWeight, this.logger, interval ?? undefined);
    } else {
      this.logger.debug("Not tracking IR intensity.");
    }

    this.blank = loadOdBlank(this.storage.odBlank, this.experiment);
    if (this.blank) this.logger.debug(`Using per-experiment OD blank correction: ${JSON.stringify(Object.fromEntries(this.blank))}`);
    this.calibrations = new CalibrationTransformer(() => this.clock.now(), this.logger);
    if (this.options.useCalibrations ?? true) {
      for (const channel of signalChannels) {
        const cal = loadActiveOdCalibration(`od${angles[channel]}`, this.storage.activeCalibrations, this.storage.calibrationsDir);
        if (cal) this.calibrations.add(cal);
      }
    }
    if (this.blank && this.calibrations.active) {
      throw new Error(
        `Per-experiment OD blank correction exists for experiment '${this.experiment}' and is incompatible with OD calibrations and fused estimators. Remove it with \`pio run od_blank delete\`.`,
      );
    }
    const used = [...this.calibrations.channels.entries()]
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([c, m]) => `${m.calibration.calibrationName} (pd${c}@${angles[c]})`);
    this.logger.debug(`OD setup: calibrations=${used.length ? used.join(", ") : "none"}; estimator=none.`);

    this.setSetting("first_od_obs_time", null);
    const irChannel = this.config.get("leds_reverse", "IR");
    if (!irChannel || !LED_CHANNELS.includes(irChannel as LedChannel)) {
      throw new Error("`leds` section must contain `IR` value. Ex:\n[leds]\nA=IR");
    }
    this.irChannel = irChannel as LedChannel;
    this.otherLedChannels = LED_CHANNELS.filter((c) => c !== this.irChannel);
    const { auto, intensity } = this.initialIrLedIntensity();
    this.setSetting("ir_led_intensity", intensity);

    if ((await backend.eeprom.readHat().catch(() => null)) === null) throw new Error("Pioreactor HAT must be present.");

    this.leds = new LedController({
      unit: this.unit,
      experiment: this.experiment,
      clock: this.clock,
      driver: backend.ledDriver,
      leds: this.storage.leds,
      locks: this.storage.ledLocks,
      publish: (topic, payload, opts) => this.publishRaw(topic, payload, opts),
      logger: this.logger,
    });

    const adcChannels = refChannel === undefined ? signalChannels : [...signalChannels, refChannel];
    const fake = this.options.fakeData ?? false;
    const acHz = this.config.get("od_reading.config", "local_ac_hz");
    this.sampler = new PhotodiodeSampler({
      channels: adcChannels,
      inputs: Object.fromEntries(adcChannels.map((c) => [c, inputName(`pd${c}`)])),
      clock: this.clock,
      logger: this.logger,
      dynamicGain: !fake,
      penalizer: interval ? this.config.getFloat("od_reading.config", "smoothing_penalizer", 3.0) / interval : 0,
      acHz: acHz ? Number(acHz) : undefined,
      useDarkOffsets: this.config.getBoolean("od_reading.config", "use_dark_offsets", true),
      onVoltageTooHigh: (volts, severity) => this.voltageTooHigh(volts, severity),
      ...(this.options.oversampling !== undefined ? { oversamplingCount: this.options.oversampling } : {}),
    });

    // Dark offsets and gains are measured with every LED off, then with only the IR LED on.
    let onReading = new Map<PdChannel, number>();
    const allOff: LedRequest = { A: 0, B: 0, C: 0, D: 0 };
    await this.leds.withTemporaryIntensities(
      allOff,
      () =>
        this.leds.withLockedChannels(this.nonIrChannels(), async () => {
          this.sampler.setDarkOffsets(await this.sampler.takeReading());
          await this.irLed(this.irLedIntensity);
          await this.clock.sleep(125);
          onReading = await this.sampler.tuneWithIrOn();
          await this.irLed(0);
          this.sampler.clearHistory();
        }, this.lockOwner()),
      { verbose: false, sourceOfEvent: this.jobName },
    );
    if (auto) this.setSetting("ir_led_intensity", bestIrLedIntensity(angles, intensity, onReading, refChannel));

    this.applyInterval(interval);
    const channelsRepr = `{${signalChannels.map((c) => `'${c}': '${angles[c]}'`).join(", ")}}`;
    this.logger.debug(
      `Starting od_reading with PD channels ${channelsRepr}, with IR LED intensity ${formatPyFloat(this.irLedIntensity)}% from channel ${this.irChannel}` +
        (interval ? ` every ${formatPyFloat(interval)} seconds.` : "."),
    );
  }

  private resolveInterval(): number | null {
    if (this.options.interval !== undefined) return this.options.interval;
    return 1 / samplesPerSecond(this.config);
  }

  private initialIrLedIntensity(): { auto: boolean; intensity: number } {
    const configured = this.options.irLedIntensity ?? this.config.getString("od_reading.config", "ir_led_intensity", "80");
    if (configured === "auto") return { auto: true, intensity: 85.0 };
    const value = Number(configured);
    if (!Number.isFinite(value) || value < 0 || value > 100) {
      throw new Error(`IR LED intensity must be between 0 and 100 (or auto), got ${configured}. Check [od_reading.config] ir_led_intensity.`);
    }
    if (value > 90) {
      this.logger.warning(
        `The value for the IR LED, ${formatPyFloat(value)}%, is very high. We suggest a value 90% or less to avoid damaging the LED.`,
      );
    }
    return { auto: false, intensity: value };
  }

  private nonIrChannels(): LedChannel[] {
    return this.otherLedChannels;
  }

  private lockOwner(): string {
    this.lockOwnerId ??= `${this.deps.pid}`;
    return this.lockOwnerId;
  }

  private async irLed(intensity: number): Promise<void> {
    const ok = await this.leds.setIntensities({ [this.irChannel]: intensity }, { verbose: false, sourceOfEvent: this.jobName });
    if (!ok && intensity > 0) throw new Error("IR LED could not be started. Stopping OD reading.");
  }

  // ------------------------------------------------------------ settings

  private applyInterval(interval: number | null): void {
    this.setSetting("interval", interval);
    this.tracker.setInterval(interval ?? undefined);
    this.timer?.cancel();
    this.timer = undefined;
    if (interval === null) return;
    if (interval <= 1.0) {
      this.logger.warning(`Recommended to have the interval between readings be larger than 1.0 sec. Currently ${formatPyFloat(interval)} sec.`);
    }
    this.timer = new RepeatedTimer(
      this.clock,
      () => this.runScheduledReading(),
      { intervalMs: interval * 1000, runImmediately: true },
      (e) => this.logger.error(errorMessage(e)),
    ).start();
    if (this.state === "sleeping") this.timer.pause();
  }

  /** `/set interval`: restarts the timer on the new grid. */
  setInterval(seconds: number): void {
    if (!(seconds > 0) || !Number.isFinite(seconds)) {
      throw new Error(`interval must be a number of seconds > 0, got ${formatPyFloat(seconds)}.`);
    }
    this.applyInterval(seconds);
  }

  /** `/set ir_led_intensity`: used from the next reading on. */
  setIrLedIntensity(percent: number): void {
    if (!(percent >= 0 && percent <= 100)) {
      throw new Error(`ir_led_intensity must be between 0 and 100 (%), got ${formatPyFloat(percent)}.`);
    }
    this.setSetting("ir_led_intensity", percent);
  }

  // ------------------------------------------------------------ readings

  private readonly logReadingFailure = (e: unknown): void => this.logger.debug(`Reading failed: ${errorMessage(e)}`);

  private async runScheduledReading(): Promise<void> {
    if (this.closing || this.state === "disconnected") return;
    const reading = this.recordFromAdc().catch(this.logReadingFailure);
    this.currentReading = reading;
    await reading;
  }

  /** The LEDs during a reading; the same object while the intensity stays (nobody changes a request). */
  private irOnRestOffState(): LedRequest {
    this.turnOffLedsDuringReading ??= this.config.getBoolean("od_reading.config", "turn_off_leds_during_reading", true);
    const intensity = this.irLedIntensity;
    if (this.irRequest !== undefined && Object.is(this.irRequest.intensity, intensity)) return this.irRequest.request;
    let request: LedRequest;
    if (this.turnOffLedsDuringReading) {
      request = {};
      for (const c of LED_CHANNELS) request[c] = c === this.irChannel ? intensity : 0;
    } else {
      request = { [this.irChannel]: intensity };
    }
    this.irRequest = { intensity, request };
    return request;
  }

  private readonly settleAndRead = async (): Promise<OdReadingsPayload> => {
    if (!(this.options.fakeData || this.options.skipLedSettleWait)) {
      this.ledSettleSeconds ??= this.config.getFloat("od_reading.config", "duration_between_led_off_and_od_reading", 0.125);
      await this.clock.sleep(this.ledSettleSeconds * 1000);
    }
    return subtractBlank(this.odReadingsFrom(await this.sampler.takeReading()), this.blank);
  };

  /** One reading, published. Resolves with the readings, or undefined when a calibration failed. */
  async recordFromAdc(): Promise<OdReadingsPayload | undefined> {
    if (this.getSetting("first_od_obs_time") == null) this.setSetting("first_od_obs_time", this.clock.now() / 1000);
    for (const fn of this.preRead) {
      try {
        await fn(this);
      } catch (e) {
        this.logger.debug(`Error in pre_function: ${errorMessage(e)}`);
      }
    }
    let readings: OdReadingsPayload | undefined;
    try {
      const raw = await this.leds.withTemporaryIntensitiesAndLocks(
        this.irOnRestOffState(),
        this.nonIrChannels(),
        this.settleAndRead,
        this.lockOwner(),
        this.ledOptions,
      );
      readings = this.publishReadings(raw);
      return readings;
    } finally {
      for (const fn of this.postRead) {
        try {
          await fn(readings, this);
        } catch (e) {
          this.logger.debug(`Error in post_function: ${errorMessage(e)}`);
        }
      }
      this.maybePublishRelativeIntensity();
    }
  }

  /** A reading's photodiode volts as OD readings: REF tracked (not itself a reading), the rest normalised by it. */
  private odReadingsFrom(volts: ReadonlyMap<PdChannel, number>): OdReadingsPayload {
    const ref = this.tracker.channel;
    if (ref !== undefined) {
      const refVolts = volts.get(ref) ?? 0;
      if (!this.tracker.update(refVolts)) {
        // An unstable reference makes normalised ODs unreliable, so dosing decisions are paused.
        this.publishRaw(this.settingTopic("$state/set", "dosing_automation"), "sleeping", { qos: 1 });
      }
    }
    const timestamp = formatPayloadTimestamp(this.clock.now());
    const ods: Partial<Record<PdChannel, RawOdReadingPayload>> = {};
    // The map holds the sampler's channels in their order; REF is not an OD reading.
    for (const channel of this.sampler.channels) {
      const v = volts.get(channel);
      if (channel === ref || v === undefined) continue;
      ods[channel] = {
        calibrated: 0,
        timestamp,
        angle: this.angles[channel]!,
        od: this.tracker.transform(v),
        channel,
        ir_led_intensity: this.irLedIntensity,
      };
    }
    return { timestamp, ods };
  }

  private publishReadings(raw: OdReadingsPayload): OdReadingsPayload {
    let calibrated: OdReadingsPayload;
    try {
      calibrated = this.calibrations.apply(raw);
    } catch (e) {
      // Fresh raw readings stay visible; calibrated outputs are cleared so nobody acts on stale ones.
      this.setSetting("ods", null);
      for (const [channel, reading] of odEntries(raw)) {
        this.setSetting(`od${channel}`, null);
        this.setSetting(`calibrated_od${channel}`, null);
        this.setSetting(`raw_od${channel}`, wireReading(reading));
      }
      this.logger.error(`Error in calibration transformer: ${errorMessage(e)}`);
      throw e instanceof CalibrationError ? e : new CalibrationError(errorMessage(e));
    }
    this.latest = calibrated;
    // `od<N>` and `calibrated_od<N>` publish the same object `ods` holds for the channel (encoded
    // apart, never changed): a reading built each three times before.
    const wire = wireReadings(calibrated);
    this.setSetting("ods", wire);
    for (const channel of PD_CHANNELS) {
      if (!Object.hasOwn(calibrated.ods, channel)) continue;
      const reading = calibrated.ods[channel]!;
      const names = SETTING_NAMES[channel];
      this.setSetting(names.od, wire.ods[channel]);
      if (reading.calibrated === 1) {
        this.setSetting(names.raw, wireReading(raw.ods[channel]!));
        this.setSetting(names.calibrated, wire.ods[channel]);
      }
    }
    return calibrated;
  }

  private maybePublishRelativeIntensity(): void {
    if (this.random() >= 0.2) return;
    let relative: number;
    try {
      relative = 1 / this.tracker.transform(1.0);
    } catch {
      return;
    }
    this.setSetting("relative_intensity_of_ir_led", {
      relative_intensity_of_ir_led: relative,
      timestamp: formatPayloadTimestamp(this.clock.now()),
    });
  }

  private async voltageTooHigh(volts: number, severity: "shutdown" | "warning"): Promise<void> {
    const v = formatPyFloat(Math.round(volts * 100) / 100);
    const flicker = this.settingTopic("flicker_led_with_error_code", "monitor");
    if (severity === "warning") {
      this.logger.warning(
        `An ADC channel is recording a very high voltage, ${v}V. It's recommended to keep it less than 3.0V. Suggestion: decrease the IR intensity, or change the PD angle to a lower angle.`,
      );
      this.publishRaw(flicker, "5", { qos: 0 });
      return;
    }
    this.logger.error(
      `An ADC channel is recording a very high voltage, ${v}V. We are shutting down components and jobs to keep the ADC safe.`,
    );
    this.leds.clearLocks();
    await this.leds.setIntensities({ A: 0, B: 0, C: 0, D: 0 }, { verbose: true, sourceOfEvent: "ADCReader" });
    this.publishRaw(flicker, "5", { qos: 0 });
    this.closing = true;
    void this.stop("ADC input too high");
  }

  // ------------------------------------------------------------ lifecycle

  protected override async onTransition(from: JobState, to: JobState): Promise<void> {
    if (to === "sleeping") this.timer?.pause();
    if (from === "sleeping" && to === "ready") this.timer?.unpause();
  }

  protected override async onDisconnected(): Promise<void> {
    this.closing = true;
    this.timer?.cancel();
    // Let a reading in progress finish (and restore the LEDs) before the IR LED goes off for good.
    await this.currentReading?.catch(() => undefined);
    if (this.leds) await this.irLed(0).catch(() => undefined);
  }
}

export function samplesPerSecond(config: JobDeps["config"]): number {
  const sps = config.getFloat("od_reading.config", "samples_per_second", 0.2);
  if (!(sps > 0)) {
    throw new Error(`Invalid [od_reading.config] samples_per_second=${formatPyFloat(sps)}. Expected a value > 0.`);
  }
  return sps;
}

/** What `od_reading` needs from a unit, composed for `pio run` and od_blank. */
export async function odReadingParts(
  ctx: import("./unit-context").UnitContext,
  fakeData: boolean,
): Promise<{ hardware: OdReadingHardware; storage: OdReadingStorage }> {
  const backend = await ctx.hardware();
  let photodiodeInputs: OdReadingHardware["photodiodeInputs"];
  if (fakeData) {
    // Simulated photodiodes on whatever LEDs the unit has, as the original's mock ADC.
    const { createSimulatedUnit } = require("../hardware/sim/simulated-unit") as typeof import("../hardware/sim/simulated-unit");
    const sim = createSimulatedUnit({ seed: 1, clock: ctx.clock, map: backend.map });
    photodiodeInputs = (name) => sim.backend.adc.input(name);
  }
  return {
    hardware: { backend, photodiodeInputs },
    storage: {
      leds: ctx.intermittentCache("leds"),
      ledLocks: ctx.intermittentCache("led_locks"),
      odBlank: ctx.persistentCache("od_blank"),
      irLedReferenceNormalization: ctx.persistentCache("ir_led_reference_normalization"),
      activeCalibrations: ctx.persistentCache("active_calibrations"),
      calibrationsDir: path.join(ctx.dotPioreactor, "storage", "calibrations"),
    },
  };
}

export const odReadingCommand: JobCommand = {
  name: "od_reading",
  summary: "Start the optical density reading job",
  options: [
    { flags: "--fake-data", description: "produce fake data (for testing)" },
    {
      flags: "--interval <seconds>",
      description: "seconds between readings",
      parse: (v) => {
        const n = parseFloatOption("--interval")(v);
        if (!(n > 0)) throw new UsageError(`Invalid value for '--interval': ${v} is not in the range x>0.`);
        return n;
      },
    },
    {
      flags: "--ir-led-intensity <percent>",
      description: "IR LED intensity (percent)",
      parse: (v) => {
        const n = parseFloatOption("--ir-led-intensity")(v);
        if (!(n >= 0 && n <= 100)) {
          throw new UsageError(
            `Invalid value for '--ir-led-intensity': ${v} is not in the range 0<=x<=100.`,
          );
        }
        return n;
      },
    },
    { flags: "--snapshot", description: "take one reading and exit" },
  ],
  async run({ ctx, options }) {
    const sps = samplesPerSecond(ctx.config);
    const snapshot = Boolean(options.snapshot);
    const interval = (options.interval as number | undefined) ?? (snapshot ? null : 1 / sps);
    const fakeData = Boolean(options.fakeData) || ctx.testing;
    const experiment = await ctx.experiment();
    const deps = await ctx.jobDeps(experiment);
    const { hardware, storage } = await odReadingParts(ctx, fakeData);
    const job = new OdReader(deps, hardware, storage, {
      interval,
      irLedIntensity: options.irLedIntensity as number | undefined,
      fakeData,
      skipLedSettleWait: ctx.testing,
    });
    await job.start();
    if (snapshot) {
      try {
        const readings = await job.recordFromAdc();
        process.stdout.write(`${encodeMsgspecJson(readings ? wireReadings(readings) : null)}\n`);
      } finally {
        await job.stop();
      }
      return 0;
    }
    return runInForeground(job);
  },
};
export type { OdReadingPayload };
