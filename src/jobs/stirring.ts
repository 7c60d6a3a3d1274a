/**
 * `stirring`: drives the stirring motor's PWM and, with RPM feedback, keeps the measured RPM at
 * `target_rpm` with a PID loop. Dodges OD readings when asked to. Behaviour, settings, log lines
 * and publish order follow the original's Stirrer (see the wire captures 01 and 02).
 */
import type { HardwareBackend, PwmChannel } from "../hardware/ports";
import { encodeMsgspecJson } from "../pubsub/codec";
import { formatPayloadTimestamp, formatPyFloat, PyInt } from "../util/python-format";
import type { JobDeps, JobState } from "./background-job";
import { DodgingJob } from "./dodging-job";
import type { KeyValueCache } from "./local-storage";
import { Pid } from "./pid";
import { type JobCommand, parseBool, parseFloatOption, parseFloatRange, runInForeground } from "./job-command";
import { PwmOutput } from "./pwm-output";
import { processIsAlive } from "./registry";
import { RepeatedTimer } from "./repeated-timer";
import { type RpmCalculator, RpmFromEdges } from "./rpm";
import { adjustTowardsRpm, dutyCycleForRpm, type StirringCalibration } from "./stirring-calibration";

export interface StirringOptions {
  /** Clamped to 0..1500 by the CLI; undefined or 0 falls back to `[stirring.config] initial_target_rpm`. */
  targetRpm?: number;
  /** Initial duty cycle (%); default `[stirring.config] initial_duty_cycle`. */
  dutyCycle?: number;
  enableDodgingOd?: boolean;
  targetRpmDuringOdReading?: number;
  targetRpmOutsideOdReading?: number;
  /**
   * The active stirring calibration (RPM → duty cycle), looked up only when the job targets an
   * RPM with feedback, as the original does. Undefined: none.
   */
  calibration?: () => StirringCalibration | undefined;
}

export interface StirringHardware {
  backend: HardwareBackend;
  /** Undefined when running without RPM feedback (`--use-rpm 0`). */
  rpmCalculator?: RpmCalculator;
  /** The unit's intermittent cache tables `pwm_dc` and `pwm_locks`. */
  pwmDutyCycles: KeyValueCache;
  pwmLocks: KeyValueCache;
}

/** A duty cycle as the original holds it: an int stays an int (`100`), everything else a float. */
type DutyCycle = number | PyInt;

function dcValue(dc: DutyCycle): number {
  return dc instanceof PyInt ? dc.value : dc;
}

/** Python's `clamp(0.0, round(v, 5), 100.0)`, keeping the int/float distinction the wire shows. */
function clampDutyCycle(v: DutyCycle): DutyCycle {
  const n = Math.round(dcValue(v) * 1e5) / 1e5;
  if (n <= 0) return 0;
  if (n > 100) return 100;
  return v instanceof PyInt ? new PyInt(n) : n;
}

export class Stirrer extends DodgingJob {
  private readonly hw: StirringHardware;
  private readonly options: StirringOptions;
  private pwm: PwmOutput | undefined;
  private pid: Pid | undefined;
  private timer: RepeatedTimer | undefined;
  private estimateDutyCycle: DutyCycle = 30;
  private lastMeasuredRpm: number | undefined;
  private targetRpmDuringOd = 0;
  private targetRpmOutsideOd = 0;
  private calibration: StirringCalibration | undefined;

  constructor(deps: JobDeps, hardware: StirringHardware, options: StirringOptions = {}) {
    super(
      deps,
      {
        jobName: "stirring",
        settings: {
          target_rpm: { datatype: "float", settable: true, unit: "RPM" },
          measured_rpm: { datatype: "MeasuredRPM", settable: false, unit: "RPM" },
          duty_cycle: { datatype: "float", settable: true, unit: "%" },
        },
      },
      options.enableDodgingOd ?? false,
    );
    this.hw = hardware;
    this.options = options;
    this.setters.target_rpm = (v) => this.setTargetRpm(Number(v));
    this.setters.duty_cycle = (v) => this.applyDutyCycle(Number(v));
  }

  get targetRpm(): number | undefined {
    return this.getSetting<number>("target_rpm") ?? undefined;
  }

  get dutyCycle(): number {
    const dc = this.getSetting<DutyCycle>("duty_cycle");
    return dc === undefined ? 0 : dcValue(dc);
  }

  get measuredRpm(): number | undefined {
    return this.lastMeasuredRpm;
  }

  protected override async setupJob(): Promise<void> {
    const rpm = this.hw.rpmCalculator;
    this.logger.debug(rpm ? "Operating with RPM feedback loop." : "Operating without RPM feedback loop.");
    const channel = this.config.get("PWM_reverse", "stirring");
    if (!channel) {
      throw new Error("Add stirring to [PWM] section to configuration file.");
    }
    this.pwm = new PwmOutput({
      pwm: this.hw.backend.pwm(channel as PwmChannel, this.config.getFloat("stirring.config", "pwm_hz", 200)),
      unit: this.unit,
      experiment: this.experiment,
      dutyCycles: this.hw.pwmDutyCycles,
      locks: this.hw.pwmLocks,
      publish: (topic, payload) => this.publishRaw(topic, payload, { qos: 0, retain: true }),
      logger: this.logger,
      pid: this.deps.pid,
      isAlive: processIsAlive,
      ownerTag: `stirring-${this.jobId ?? 0}`,
    });
    await this.pwm.start(0);
    this.pwm.lock();

    const initialTarget = this.options.targetRpm || this.config.getFloat("stirring.config", "initial_target_rpm", 500);
    if (rpm) this.setSetting("target_rpm", initialTarget);
    this.estimateDutyCycle = this.options.dutyCycle ?? this.config.getFloat("stirring.config", "initial_duty_cycle", 30);
    this.useStirringCalibration();
    this.targetRpmDuringOd =
      this.options.targetRpmDuringOdReading ?? this.config.getFloat("stirring.config", "target_rpm_during_od_reading", 0);
    this.targetRpmOutsideOd =
      this.options.targetRpmOutsideOdReading ??
      this.config.getFloat("stirring.config", "target_rpm_outside_od_reading", this.targetRpm ?? 0);
    this.pid = new Pid({
      Kp: this.config.getFloat("stirring.pid", "Kp"),
      Ki: this.config.getFloat("stirring.pid", "Ki"),
      Kd: this.config.getFloat("stirring.pid", "Kd"),
      setpoint: this.targetRpm ?? 0,
      outputLimits: [-7.5, 7.5],
      jobName: this.jobName,
      targetName: "rpm",
    });
  }

  /**
   * With a calibration the first duty cycle comes from the curve rather than from
   * `initial_duty_cycle` (or `--duty-cycle`), which may be far off: the original seeds the
   * estimate with the curve's duty cycle for the target, then applies its lookup once, so the
   * motor starts at 1.05 × that.
   */
  private useStirringCalibration(): void {
    const target = this.targetRpm;
    if (!this.hw.rpmCalculator || target === undefined) return;
    const cal = this.options.calibration?.();
    if (!cal) {
      if (this.enableDodgingOd) {
        this.logger.warning(
          "OD dodging is enabled without a stirring calibration. This can increase OD reading noise. Run a stirring calibration for better stability.",
        );
      }
      return;
    }
    if (cal.yLabel !== "RPM") {
      this.logger.error(`Calibration ${cal.calibrationName} has wrong type.`);
      throw new Error(`Calibration ${cal.calibrationName} has wrong type.`);
    }
    this.logger.debug(`Found active stirring calibration: ${cal.calibrationName}.`);
    this.calibration = cal;
    this.estimateDutyCycle = adjustTowardsRpm(cal, dutyCycleForRpm(cal, target), target);
  }

  // ------------------------------------------------------------ modes

  protected override async initializeContinuousOperation(): Promise<void> {
    this.logger.debug("Starting initialize_continuous_operation");
    this.timer?.cancel();
    const measureOnly = this.hw.rpmCalculator !== undefined && this.targetRpm === undefined;
    this.timer = new RepeatedTimer(
      this.clock,
      () => (measureOnly ? this.poll(4.0).then(() => undefined) : this.pollAndUpdateDutyCycle()),
      {
        intervalMs: this.config.getFloat("stirring.config", "duration_between_updates_seconds", 23) * 1000,
        runAfterMs: 6000,
        runImmediately: true,
      },
      (e) => this.logger.error(String(e)),
    ).start();
    if (this.dutyCycle === 0) await this.startStirring();
    this.removeSetting("target_rpm_during_od_reading");
    this.removeSetting("target_rpm_outside_od_reading");
    this.logger.debug("Finished initialize_continuous_operation");
  }

  protected override async initializeDodgingOperation(): Promise<void> {
    this.logger.debug("Starting initialize_dodging_operation");
    const interval = Number(this.deps.registry.settingOfRunningJob("od_reading", "interval"));
    if (Number.isFinite(interval) && interval < 1 / 0.12) {
      this.logger.warning("Stirring dodging needs OD readings at least 8.3 seconds apart; decrease samples_per_second.");
    }
    this.timer?.cancel();
    this.timer = undefined;
    await this.stopStirring();
    this.addSetting("target_rpm_during_od_reading", { datatype: "float", settable: true, unit: "RPM" }, this.targetRpmDuringOd);
    this.addSetting("target_rpm_outside_od_reading", { datatype: "float", settable: true, unit: "RPM" }, this.targetRpmOutsideOd);
    this.setters.target_rpm_during_od_reading = (v) => {
      this.targetRpmDuringOd = Number(v);
      this.setSetting("target_rpm_during_od_reading", this.targetRpmDuringOd);
    };
    this.setters.target_rpm_outside_od_reading = (v) => {
      this.targetRpmOutsideOd = Number(v);
      this.setSetting("target_rpm_outside_od_reading", this.targetRpmOutsideOd);
    };
    this.logger.debug("Finished initialize_dodging_operation");
  }

  protected override async actionToDoBeforeOdReading(): Promise<void> {
    await this.setTargetRpm(this.targetRpmDuringOd);
    await this.clock.sleep(150);
    await this.pollAndUpdateDutyCycle();
  }

  protected override async actionToDoAfterOdReading(): Promise<void> {
    await this.setTargetRpm(this.targetRpmOutsideOd);
    await this.clock.sleep(150);
    await this.pollAndUpdateDutyCycle();
    await this.pollAndUpdateDutyCycle();
  }

  // ------------------------------------------------------------ actuation

  private async applyDutyCycle(value: DutyCycle): Promise<void> {
    if (!this.pwm || this.pwm.isCleanedUp) {
      this.logger.debug("Ignoring duty cycle update after PWM cleanup.");
      return;
    }
    const dc = clampDutyCycle(value);
    this.setSetting("duty_cycle", dc);
    await this.pwm.changeDutyCycle(dcValue(dc));
  }

  private async startStirring(): Promise<void> {
    // A short full-power pulse gets the stir bar moving before settling at the estimate.
    await this.applyDutyCycle(new PyInt(100));
    await this.clock.sleep(500);
    await this.applyDutyCycle(this.estimateDutyCycle);
    this.timer?.unpause();
  }

  private async stopStirring(): Promise<void> {
    await this.applyDutyCycle(0);
    this.timer?.pause();
    if (this.hw.rpmCalculator) this.publishMeasuredRpm(new PyInt(0));
  }

  private async kickStirring(): Promise<void> {
    this.logger.debug("Kicking stirring");
    await this.applyDutyCycle(0);
    await this.clock.sleep(750);
    await this.applyDutyCycle(new PyInt(100));
    await this.clock.sleep(750);
    // Never more than 60 %: a stalled sensor must not spiral the motor up to full power.
    const next = 1.01 * dcValue(this.estimateDutyCycle);
    await this.applyDutyCycle(next < 60 ? next : new PyInt(60));
  }

  async setTargetRpm(value: number): Promise<void> {
    if (!this.hw.rpmCalculator) throw new Error("Can't set target RPM when no RPM measurement is being made");
    const target = Math.min(5000, Math.max(0, value));
    this.setSetting("target_rpm", target);
    if (this.pid) this.pid.setpoint = target;
    // Without a stirring calibration the lookup keeps the current estimate, as in the original.
    if (target === 0) this.estimateDutyCycle = 0;
    else if (this.calibration) this.estimateDutyCycle = adjustTowardsRpm(this.calibration, dcValue(this.estimateDutyCycle), target);
    if (this.state === "sleeping") return;
    if (this.dutyCycle === 0) {
      await this.applyDutyCycle(new PyInt(100));
      await this.clock.sleep(350);
    }
    await this.applyDutyCycle(this.estimateDutyCycle);
  }

  // ------------------------------------------------------------ measurement

  private publishMeasuredRpm(rpm: number | PyInt): void {
    this.setSetting("measured_rpm", { measured_rpm: rpm, timestamp: formatPayloadTimestamp(this.clock.now()) });
  }

  /** Measures for `seconds` without holding up commands, then publishes the result. */
  async poll(seconds: number): Promise<number | undefined> {
    const calc = this.hw.rpmCalculator;
    if (!calc) return undefined;
    const rpm = await calc.estimate(seconds);
    this.lastMeasuredRpm = rpm;
    if (this.state === "disconnected") return rpm;
    this.publishMeasuredRpm(rpm);
    if (rpm === 0 && this.state === "ready" && (this.targetRpm ?? 0) > 0) {
      this.logger.warning(
        "Stirring RPM is 0 - attempting to restart it automatically. It may be a temporary stall, target RPM may be too low, insufficient power applied to fan, or not reading sensor correctly.",
      );
      this.publishRaw(this.settingTopic("flicker_led_with_error_code", "monitor"), "4", { qos: 2 });
      await this.enqueue(() => this.kickStirring());
    }
    return rpm;
  }

  async pollAndUpdateDutyCycle(seconds?: number): Promise<void> {
    const target = this.targetRpm;
    if (!this.hw.rpmCalculator || target === undefined || this.state !== "ready") return;
    const window = seconds ?? (target > 0 ? Math.max(1, Math.min(10 / (target / 60), 5)) : 1);
    const measured = await this.poll(window);
    if (measured === undefined) return;
    await this.enqueue(async () => {
      if (this.state !== "ready" || !this.pid) return;
      this.estimateDutyCycle = dcValue(this.estimateDutyCycle) + this.pid.update(measured);
      this.publishRaw(`pioreactor/${this.unit}/${this.experiment}/pid_log/rpm`, encodeMsgspecJson(this.pid.stats()), { qos: 0 });
      await this.applyDutyCycle(this.estimateDutyCycle);
    });
  }

  /**
   * Waits until the measured RPM is within `tolerance` of the target (the CLI does this before
   * handing over), pausing the regular updates meanwhile. Returns false on timeout or state change.
   */
  async blockUntilRpmIsCloseToTarget(tolerance = 20, timeoutS = 60): Promise<boolean> {
    const target = this.targetRpm;
    if (!this.hw.rpmCalculator || target === undefined || this.currentlyDodgingOd) return false;
    const shouldExit = () => this.state !== "ready" || this.currentlyDodgingOd;
    const wasPaused = this.timer?.isPaused ?? false;
    this.timer?.pause();
    const started = this.clock.now();
    try {
      this.logger.debug(`${this.jobName} is blocking until RPM is near ${formatPyFloat(target)}.`);
      if (shouldExit()) return false;
      await this.clock.sleep(2000);
      if (shouldExit()) return false;
      await this.pollAndUpdateDutyCycle(1.5);
      while (Math.abs((this.lastMeasuredRpm ?? 0) - (this.targetRpm ?? target)) > tolerance) {
        if (shouldExit()) return false;
        await this.clock.sleep(200);
        if (shouldExit()) return false;
        await this.pollAndUpdateDutyCycle(1.5);
        const waited = (this.clock.now() - started) / 1000;
        if (timeoutS && waited > timeoutS) {
          this.logger.debug(`Waited ${waited.toFixed(1)} seconds for RPM to match, breaking out early.`);
          return false;
        }
      }
      return true;
    } finally {
      if (!wasPaused) this.timer?.unpause();
    }
  }

  // ------------------------------------------------------------ lifecycle hooks

  protected override async onTransition(from: JobState, to: JobState): Promise<void> {
    if (from === "ready" && to === "sleeping") await this.stopStirring();
    if (from === "sleeping" && to === "ready") {
      this.setSetting("duty_cycle", this.estimateDutyCycle);
      this.timer?.unpause();
      await this.startStirring();
    }
  }

  override async stop(reason?: string): Promise<void> {
    // The PWM is released first, as the original's own PWM signal handler runs before the job's.
    if (reason && this.pwm && !this.pwm.isCleanedUp) {
      this.logger.debug(`Exiting PWM caused by ${reason}.`);
      this.timer?.cancel();
      await this.pwm.cleanup();
    }
    return super.stop(reason);
  }

  protected override async onDisconnected(): Promise<void> {
    await super.onDisconnected();
    this.timer?.cancel();
    await this.pwm?.cleanup();
    await this.hw.rpmCalculator?.close().catch(() => undefined);
  }
}

export const stirringCommand: JobCommand = {
  name: "stirring",
  summary: "Start the stirring of the Pioreactor.",
  options: [
    { flags: "--target-rpm <rpm>", description: "set the target RPM", parse: parseFloatRange("--target-rpm", 0, 1500, true) },
    { flags: "--use-rpm <bool>", description: "Use RPM feedback loop.", parse: parseBool("--use-rpm") },
    { flags: "--duty-cycle <percent>", description: "initial duty cycle (%)", parse: parseFloatRange("--duty-cycle", 0, 100) },
    {
      flags: "--target-rpm-during-od-reading <rpm>",
      description: "override RPM during OD readings",
      parse: parseFloatOption("--target-rpm-during-od-reading"),
    },
    {
      flags: "--target-rpm-outside-od-reading <rpm>",
      description: "override RPM outside OD readings",
      parse: parseFloatOption("--target-rpm-outside-od-reading"),
    },
    { flags: "--enable-dodging-od <bool>", description: "Enable OD dodging.", parse: parseBool("--enable-dodging-od") },
    { flags: "--measure-rpm-only", description: "measure and publish RPM without changing the duty cycle" },
  ],
  async run({ ctx, options }) {
    const experiment = await ctx.experiment();
    const deps = await ctx.jobDeps(experiment);
    const backend = await ctx.hardware();
    const useRpm = (options.useRpm as boolean | undefined) ?? ctx.config.getBoolean("stirring.config", "use_rpm", true);
    const stirrer = new Stirrer(
      deps,
      {
        backend,
        rpmCalculator: useRpm ? new RpmFromEdges(backend.rpmSensor, ctx.clock) : undefined,
        pwmDutyCycles: ctx.intermittentCache("pwm_dc"),
        pwmLocks: ctx.intermittentCache("pwm_locks"),
      },
      {
        targetRpm: options.measureRpmOnly ? undefined : (options.targetRpm as number | undefined),
        dutyCycle: options.dutyCycle as number | undefined,
        enableDodgingOd:
          (options.enableDodgingOd as boolean | undefined) ?? ctx.config.getBoolean("stirring.config", "enable_dodging_od", false),
        targetRpmDuringOdReading: options.targetRpmDuringOdReading as number | undefined,
        targetRpmOutsideOdReading: options.targetRpmOutsideOdReading as number | undefined,
        calibration: () => {
          const { loadActiveStirringCalibration } = require("./stirring-calibration") as typeof import("./stirring-calibration");
          const path = require("node:path") as typeof import("node:path");
          return loadActiveStirringCalibration(ctx.persistentCache("active_calibrations"), path.join(ctx.dotPioreactor, "storage", "calibrations"));
        },
      },
    );
    await stirrer.start();
    return runInForeground(
      stirrer,
      stirrer.blockUntilRpmIsCloseToTarget().then(() => undefined),
    );
  },
};
