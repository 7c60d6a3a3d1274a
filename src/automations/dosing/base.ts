/**
 * The dosing automation family (`dosing_automation`): seeds the vial's liquid state, follows the
 * retained `bioreactor/*` topics the monitor keeps up to date, and moves liquid with
 * `executeIoAction` — doses split into sub-doses of at most `max_subdose`, each followed by
 * waste removal plus an extra `waste_removal_multiplier` × waste to hold the level at the
 * efflux tube. Pumps run in-process on this job's connection and stop when the job sleeps,
 * stops or loses its broker.
 */
import { CalibrationError, type PumpDevice } from "../../actions/pump-calibration";
import type { PumpRequest } from "../../actions/pump";
import type { JobDeps } from "../../jobs/background-job";
import { stopRequestTopics } from "../../jobs/managed-lifecycle";
import type { Logger } from "../../jobs/logger";
import type { SharedTransport } from "../../jobs/managed-lifecycle";
import { formatPyFloat } from "../../util/python-format";
import { AutomationJob, type AutomationJobOptions } from "../base";
import { automationEvent } from "../events";
import { type BioreactorState, type BioreactorVariable, bioreactorTopic, encodeBioreactorValue } from "../bioreactor-state";
import type { ReactorModel } from "../reactor-model";

/** Runs one pump for the automation (normally `runPump` with the unit's hardware). */
export interface DosingPumps {
  run(device: PumpDevice, request: PumpRequest, via: { shared: SharedTransport; logger: Logger }): Promise<number>;
  /** Active calibration present (the original refuses to start chemostat etc. without one). */
  hasActiveCalibration(device: PumpDevice): boolean;
}

export interface DosingContext {
  pumps: DosingPumps;
  bioreactor: BioreactorState;
  model: ReactorModel;
}

export interface DosingBaseArgs {
  alt_media_fraction?: number;
  current_volume_ml?: number;
  efflux_tube_volume_ml?: number;
}

const PUMP_FOR_VOLUME: Record<string, PumpDevice> = { media_ml: "media_pump", alt_media_ml: "alt_media_pump" };

export abstract class DosingAutomationJob extends AutomationJob {
  alternativeMediaFraction = 0;
  currentVolumeMl = 0;
  effluxTubeVolumeMl = 0;
  private lastVolumeWarningMs: number | undefined;
  private stopPumping = false;
  private pumpStop = new AbortController();

  constructor(
    deps: JobDeps,
    options: Omit<AutomationJobOptions, "jobName">,
    protected readonly dosing: DosingContext,
    private readonly baseArgs: DosingBaseArgs = {},
    private readonly requiredPumps: PumpDevice[] = [],
  ) {
    super(deps, { ...options, jobName: "dosing_automation" });
  }

  get maxVialVolumeToStop(): number {
    return this.dosing.model.reactorMaxFillVolumeMl;
  }

  get maxSubdose(): number {
    return this.config.getFloat("dosing_automation.config", "max_subdose", 1.0);
  }

  /** Refuses to start without pump calibrations and `[PWM]` entries, before touching MQTT. */
  override async start(): Promise<this> {
    for (const device of this.requiredPumps) {
      if (!this.dosing.pumps.hasActiveCalibration(device)) {
        const label = device.replace(/_pump$/, "").replace(/_/g, "-");
        throw new CalibrationError(
          `${label[0].toUpperCase()}${label.slice(1).replace(/-(\w)/g, (_, c: string) => `-${c.toUpperCase()}`)} pump calibration must be performed first: run \`pio calibrations run --device ${device}\`.`,
        );
      }
      const name = device.replace(/_pump$/, "");
      if (!this.config.get("PWM_reverse", name)?.trim()) {
        throw new CalibrationError(`\`${name}\` must be assigned to a PWM channel in the [PWM] config section first.`);
      }
    }
    return super.start();
  }

  protected override async setupAutomationBase(): Promise<void> {
    const b = this.dosing.bioreactor;
    const seed = (variable: BioreactorVariable, given: number | undefined) => {
      const value = b.set(this.experiment, variable, given ?? b.get(this.experiment, variable));
      this.publishRaw(bioreactorTopic(this.unit, this.experiment, variable), encodeBioreactorValue(value), { qos: 2, retain: true });
      return value;
    };
    this.alternativeMediaFraction = seed("alt_media_fraction", this.baseArgs.alt_media_fraction);
    this.effluxTubeVolumeMl = seed("efflux_tube_volume_ml", this.baseArgs.efflux_tube_volume_ml);
    this.currentVolumeMl = seed("current_volume_ml", this.baseArgs.current_volume_ml);
    this.logger.debug(
      `Volume settings initialized: current_volume_ml=${this.currentVolumeMl.toFixed(2)} mL, efflux_tube_volume_ml=${this.effluxTubeVolumeMl.toFixed(2)} mL.`,
    );
    if (this.deps.registry.runningJobId("stirring") === undefined) {
      this.logger.warning("It's recommended to have stirring on to improve mixing during dosing events.");
    }
  }

  protected override async startPassiveListeners(): Promise<void> {
    await super.startPassiveListeners();
    const topic = (v: BioreactorVariable) => bioreactorTopic(this.unit, this.experiment, v);
    await this.subscribe(topic("alt_media_fraction"), (m) => {
      if (m.payload.length > 0) this.alternativeMediaFraction = this.dosing.bioreactor.validate("alt_media_fraction", m.payload);
    });
    await this.subscribe(topic("current_volume_ml"), (m) => {
      if (m.payload.length > 0) this.onVolume(this.dosing.bioreactor.validate("current_volume_ml", m.payload));
    });
    await this.subscribe(topic("efflux_tube_volume_ml"), (m) => {
      if (m.payload.length > 0) this.effluxTubeVolumeMl = this.dosing.bioreactor.validate("efflux_tube_volume_ml", m.payload);
    });
    // A `disconnected` sent to add_media/… (the UI's stop button) stops our in-process pumps too.
    for (const action of ["add_media", "add_alt_media", "remove_waste"]) {
      await this.subscribe(
        stopRequestTopics(this.unit, this.experiment, action),
        (m) => {
          if (m.payload.toString("utf8") === "disconnected") this.pumpStop.abort();
        },
        { allowRetained: false, serialised: false },
      );
    }
  }

  private onVolume(volume: number): void {
    this.currentVolumeMl = volume;
    if (volume >= this.maxVialVolumeToStop) {
      this.logger.error(
        `Pausing all pumping since the vial is calculated to have a volume of ${volume.toFixed(2)} mL, which is beyond safety threshold ${formatPyFloat(this.maxVialVolumeToStop)} mL.`,
      );
      void this.setState("sleeping");
    } else if (volume >= 0.95 * this.maxVialVolumeToStop) {
      const now = this.clock.now();
      if (this.lastVolumeWarningMs === undefined || now - this.lastVolumeWarningMs >= 10_000) {
        this.lastVolumeWarningMs = now;
        this.logger.warning(`Vial is calculated to have a volume of ${volume.toFixed(2)} mL. Is this expected?`);
      }
    }
  }

  // ------------------------------------------------------------------ pumping

  /** Runs one pump on this job's connection, stopping early if the job asks the pumps to stop. */
  protected async runPump(device: PumpDevice, ml: number): Promise<number> {
    if (this.pumpStop.signal.aborted) this.pumpStop = new AbortController();
    return this.dosing.pumps.run(
      device,
      { ml, sourceOfEvent: `${this.jobName}:${this.automationName}` },
      {
        shared: { publish: (topic, payload, opts) => this.publishRaw(topic, payload, opts), stop: this.pumpStop.signal },
        logger: this.logger,
      },
    );
  }

  private stopActivePumps(): void {
    this.pumpStop.abort();
    for (const action of ["add_media", "add_alt_media", "remove_waste"]) {
      this.publishRaw(`pioreactor/${this.unit}/${this.experiment}/${action}/$state/set`, "disconnected", { qos: 1 });
    }
  }

  private mayPump(): boolean {
    return this.state === "ready" && !this.stopPumping;
  }

  private async blockUntilNotSleeping(): Promise<void> {
    while (this.state === "sleeping") await this.clock.sleep(5000);
  }

  /**
   * Moves `volumes` (`media_ml`, `alt_media_ml`) in and `wasteMl` out, in sub-doses; returns what
   * was actually moved, with keys in the order given (`waste_ml` first).
   */
  async executeIoAction(wasteMl: number, volumes: Record<string, number>): Promise<Record<string, number>> {
    this.setSetting("latest_event", automationEvent("DosingStarted", null, { waste_ml: wasteMl, ...volumes }));
    const moved = await this.executeIoActionInner(wasteMl, volumes);
    this.setSetting("latest_event", automationEvent("DosingStopped", null, moved));
    return moved;
  }

  private async executeIoActionInner(wasteMl: number, volumes: Record<string, number>): Promise<Record<string, number>> {
    for (const key of Object.keys(volumes)) {
      if (!key.endsWith("_ml")) throw new Error("all volumes should end in `_ml`. Example: `{salty_media_ml: 1.0}`");
      if (volumes[key] > 0 && !PUMP_FOR_VOLUME[key]) throw new Error(`No pump for \`${key}\`: use media_ml or alt_media_ml.`);
    }
    const total = Object.values(volumes).reduce((a, b) => a + b, 0);
    if (!(wasteMl >= total - 1e-9)) {
      throw new Error("Not removing enough waste: waste_ml should be greater than or equal to sum of all dosed ml");
    }
    const moved: Record<string, number> = { waste_ml: 0 };
    for (const key of Object.keys(volumes)) moved[key] = 0;

    if (total > this.maxSubdose) {
      const half = Object.fromEntries(Object.entries(volumes).map(([k, v]) => [k, v / 2]));
      for (let i = 0; i < 2; i++) {
        const part = await this.executeIoActionInner(wasteMl / 2, half);
        for (const [k, v] of Object.entries(part)) moved[k] = (moved[k] ?? 0) + v;
      }
      return moved;
    }

    const pause = this.config.getFloat("dosing_automation.config", "pause_between_subdoses_seconds", 5.0);
    let projected = this.currentVolumeMl;
    for (const [key, ml] of Object.entries(volumes)) {
      if (projected + ml >= this.maxVialVolumeToStop) {
        this.logger.error(
          `Pausing all pumping since ${formatPyFloat(projected)} + ${formatPyFloat(ml)} mL is beyond safety threshold ${formatPyFloat(this.maxVialVolumeToStop)} mL.`,
        );
        await this.setState("sleeping");
        return moved;
      }
      if (ml > 0) {
        await this.blockUntilNotSleeping();
        if (!this.mayPump()) continue;
        moved[key] += await this.runPump(PUMP_FOR_VOLUME[key], ml);
        projected += moved[key];
        await this.clock.sleep(pause * 1000);
      }
    }
    if (wasteMl > 0) {
      await this.blockUntilNotSleeping();
      if (this.mayPump()) {
        moved.waste_ml += await this.runPump("waste_pump", wasteMl);
        await this.clock.sleep(50);
      }
    }
    const extra = wasteMl * this.config.getFloat("dosing_automation.config", "waste_removal_multiplier", 2.0);
    if (extra > 0) {
      await this.blockUntilNotSleeping();
      // Extra waste keeps the level at the efflux tube; it is not counted as moved.
      if (this.mayPump()) {
        await this.runPump("waste_pump", extra);
        await this.clock.sleep(50);
      }
    }
    if (moved.waste_ml < wasteMl) {
      this.logger.warning(`Waste was under-removed. Expected to remove ${formatPyFloat(wasteMl)} ml, only removed ${formatPyFloat(moved.waste_ml)} ml.`);
    }
    return moved;
  }

  protected override async onSleeping(): Promise<void> {
    await super.onSleeping();
    this.stopActivePumps();
  }

  protected override async onDisconnected(): Promise<void> {
    this.stopPumping = true;
    this.stopActivePumps();
    await super.onDisconnected();
  }

  /** Never keep pumping blind: a lost broker stops the in-process pumps at once. */
  protected override onBrokerDisconnect(): void {
    this.pumpStop.abort();
  }
}
