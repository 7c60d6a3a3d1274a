/**
 * The temperature automation family (`temperature_automation`): owns the heater PWM (16 Hz) and
 * the heating PCB's sensor. Every 200 s it infers the vial temperature from a cooling curve
 * (heater off for ~105 s), publishes `temperature`, then runs the automation. PCB over-
 * temperature reduces, disables, or (past the model's limit) cuts the heater and asks for power-off.
 */
import type { HardwareBackend } from "../../hardware/ports";
import type { JobDeps, JobState } from "../../jobs/background-job";
import type { KeyValueCache } from "../../jobs/local-storage";
import { PwmOutput } from "../../jobs/pwm-output";
import { processIsAlive } from "../../jobs/registry";
import { formatMillisTimestamp, formatPayloadTimestamp } from "../../util/python-format";
import { AutomationJob, type AutomationJobOptions } from "../base";
import type { BioreactorState } from "../bioreactor-state";
import type { ReactorModel } from "../reactor-model";
import { defaultVialTemperatureModel, type VialTemperatureModel } from "./inference";

export const HEATER_HZ = 16;
const SAFETY_READ_EVERY_MS = 53_000;
const ROOM_TEMPERATURE_C = 22;

export interface TemperatureContext {
  backend: HardwareBackend;
  pwmDutyCycles: KeyValueCache;
  pwmLocks: KeyValueCache;
  /** Intermittent cache `temperature_and_heating`. */
  heatingCache: KeyValueCache;
  bioreactor: BioreactorState;
  model: ReactorModel;
  /** Default: `defaultVialTemperatureModel(backend)`. */
  vialTemperatureModel?: VialTemperatureModel;
  /** Asked to power the unit off when the PCB passes the shutdown limit (default: log only). */
  powerOff?: () => Promise<void>;
  testing?: boolean;
}

export abstract class TemperatureAutomationJob extends AutomationJob {
  heaterDutyCycle = 0;
  latestTemperature: number | undefined;
  private pwm: PwmOutput | undefined;
  private inferring = false;
  private exiting = false;

  constructor(
    deps: JobDeps,
    options: Omit<AutomationJobOptions, "jobName">,
    protected readonly heating: TemperatureContext,
  ) {
    super(deps, { ...options, jobName: "temperature_automation" });
  }

  get legacy20ml(): boolean {
    return this.heating.model.modelName.startsWith("pioreactor_20ml") && this.heating.model.modelVersion === "1.0";
  }

  get samplesEverySeconds(): number {
    return 5;
  }
  get samplesPerInference(): number {
    return this.legacy20ml ? 29 : 21;
  }
  get inferenceEverySeconds(): number {
    return this.legacy20ml ? 225 : 200;
  }

  protected override async setupAutomationBase(): Promise<void> {
    this.addSetting("temperature", { datatype: "Temperature", settable: false, unit: "℃" });
    this.addSetting("heater_duty_cycle", { datatype: "float", settable: false, unit: "%" }, 0);
    if (!(await this.heating.backend.isI2cDevicePresent(this.heating.backend.map.temp.address))) {
      throw new Error("Heating PCB must be attached to Pioreactor HAT");
    }
    this.pwm = new PwmOutput({
      pwm: this.heating.backend.heater(HEATER_HZ),
      unit: this.unit,
      experiment: this.experiment,
      dutyCycles: this.heating.pwmDutyCycles,
      locks: this.heating.pwmLocks,
      publish: (topic, payload) => this.publishRaw(topic, payload, { qos: 0, retain: true }),
      logger: this.logger,
      pid: this.deps.pid,
      isAlive: processIsAlive,
      ownerTag: `temperature_automation-${this.jobId ?? 0}`,
    });
    await this.pwm.start(0);
  }

  protected override async onReady(): Promise<void> {
    const first = !this.timersStarted;
    if (first) {
      this.timersStarted = true;
      const sinceHeating = this.secondsSinceLastHeating();
      if (this.heating.testing || sinceHeating >= 10) {
        // Not awaited: reading takes time on the job's clock, and start() must not wait on it.
        void this.enqueue(async () => {
          this.publishTemperature(await this.readPcbTemperature());
          await this.runOnce({ allowedStates: ["ready", "init"] });
        });
      }
      this.every(SAFETY_READ_EVERY_MS, async () => {
        await this.readPcbTemperature();
      });
      const inferenceMs = this.inferenceEverySeconds * 1000;
      const offMs = this.samplesEverySeconds * this.samplesPerInference * 1000;
      // The first inference waits one full heating window, as the original does.
      const kickoff = this.every(inferenceMs - offMs, async () => {
        kickoff.cancel();
        void this.inferAndRun();
        this.inferenceTimer = this.clock.setInterval(() => void this.inferAndRun(), inferenceMs);
      });
    }
    await super.onReady();
  }

  private timersStarted = false;
  private inferenceTimer: { cancel(): void } | undefined;

  private secondsSinceLastHeating(): number {
    const at = this.heating.heatingCache.getString("last_heating_timestamp");
    if (!at) return 1_000_000;
    return (this.clock.now() - Date.parse(at)) / 1000;
  }

  /** Sets the heater; refused (false) while an inference holds the heater off. */
  async updateHeater(dutyCycle: number): Promise<boolean> {
    if (this.inferring) return false;
    return this.applyHeater(dutyCycle);
  }

  async updateHeaterWithDelta(delta: number): Promise<boolean> {
    return this.updateHeater(this.heaterDutyCycle + delta);
  }

  private async applyHeater(dutyCycle: number): Promise<boolean> {
    if (!this.pwm || this.pwm.isCleanedUp) return false;
    this.heaterDutyCycle = Math.min(100, Math.max(0, Math.round(dutyCycle * 100) / 100));
    await this.pwm.changeDutyCycle(this.heaterDutyCycle);
    this.setSetting("heater_duty_cycle", this.heaterDutyCycle);
    if (this.heaterDutyCycle === 0) this.heating.heatingCache.set("last_heating_timestamp", formatMillisTimestamp(this.clock.now()));
    return true;
  }

  /** Mean of 6 reads 50 ms apart, cached for other processes and checked against the PCB limits. */
  async readPcbTemperature(): Promise<number> {
    const sensor = this.heating.backend.tempSensor;
    let sum = 0;
    for (let i = 0; i < 6; i++) {
      sum += sensor.readCelsiusSync ? sensor.readCelsiusSync() : await sensor.readCelsius();
      await this.clock.sleep(50);
    }
    const t = sum / 6;
    this.heating.heatingCache.set("heating_pcb_temperature", t);
    this.heating.heatingCache.set("heating_pcb_temperature_at", formatMillisTimestamp(this.clock.now()));
    await this.checkPcbLimits(t);
    return t;
  }

  private async checkPcbLimits(t: number): Promise<void> {
    const m = this.heating.model;
    if (t > m.maxTempToShutdown) {
      this.logger.error(
        `Temperature of heating surface has exceeded ${m.maxTempToShutdown}℃ - currently ${t}℃. This is beyond our recommendations. Shutting down Raspberry Pi to prevent further problems. Take caution when touching the heating surface and wetware.`,
      );
      await this.applyHeater(0);
      this.flickerError(6);
      await this.heating.powerOff?.();
    } else if (t > m.maxTempToDisableHeating) {
      this.flickerError(6);
      this.logger.warning(
        `Temperature of heating surface has exceeded ${m.maxTempToDisableHeating}℃ - currently ${t}℃. This is beyond our recommendations. The heating PWM channel will be forced to 0. Take caution when touching the heating surface and wetware.`,
      );
      await this.applyHeater(0);
    } else if (t > m.maxTempToReduceHeating) {
      this.logger.debug(`Temperature of heating surface has exceeded ${m.maxTempToReduceHeating}℃ - currently ${t}℃. Reducing heating to 90%.`);
      await this.applyHeater(this.heaterDutyCycle * 0.9);
    }
  }

  private flickerError(code: number): void {
    this.publishRaw(`pioreactor/${this.unit}/${this.experiment}/monitor/flicker_led_with_error_code`, String(code), { qos: 1 });
  }

  /** Heater off, sample the cooling PCB, restore the heater, estimate, publish, run the automation. */
  private async inferAndRun(): Promise<void> {
    if (this.state !== "ready" || this.inferring || this.exiting) return;
    this.inferring = true;
    const previous = this.heaterDutyCycle;
    const samples: number[] = [];
    const sampledAt: number[] = [];
    let aborted = false;
    try {
      await this.applyHeater(0);
      for (let i = 0; i < this.samplesPerInference; i++) {
        sampledAt.push(this.clock.now());
        samples.push(await this.readPcbTemperature());
        await this.clock.sleep(this.samplesEverySeconds * 1000);
        if (this.exiting || (this.state as JobState) !== "ready") {
          aborted = true;
          break;
        }
      }
    } finally {
      this.inferring = false;
      // Restore before publishing so the automation's reaction is not overwritten.
      if (!aborted && this.state === "ready" && !this.exiting) await this.applyHeater(previous);
      else await this.applyHeater(0);
    }
    if (aborted) return;
    try {
      const model = this.heating.vialTemperatureModel ?? defaultVialTemperatureModel(this.heating.backend);
      const inferred = model({
        previousDutyCycle: previous,
        samples,
        // Each sample's reads add ~0.3 s to the nominal 5 s; physical models need the real spacing.
        secondsBetweenSamples:
          samples.length > 1 ? (sampledAt[sampledAt.length - 1] - sampledAt[0]) / (samples.length - 1) / 1000 : this.samplesEverySeconds,
        roomTemperatureC: ROOM_TEMPERATURE_C,
        volumeMl: this.heating.bioreactor.get(this.experiment, "current_volume_ml"),
      });
      this.publishTemperature(Math.round(inferred * 100) / 100);
      await this.runOnce({ allowedStates: ["ready", "init"] });
    } catch (e) {
      this.logger.error(e instanceof Error ? e.message : String(e));
    }
  }

  private publishTemperature(celsius: number): void {
    this.latestTemperature = celsius;
    this.setSetting("temperature", { timestamp: formatPayloadTimestamp(this.clock.now()), temperature: celsius });
  }

  protected override async onSleeping(): Promise<void> {
    await super.onSleeping();
    await this.applyHeater(0);
  }

  protected override async onTransition(from: JobState, to: JobState): Promise<void> {
    await super.onTransition(from, to);
  }

  protected override async onDisconnected(): Promise<void> {
    this.exiting = true;
    this.inferenceTimer?.cancel();
    await super.onDisconnected();
    if (this.pwm && !this.pwm.isCleanedUp) {
      await this.applyHeater(0).catch(() => false);
      await this.pwm.cleanup();
    }
  }
}
