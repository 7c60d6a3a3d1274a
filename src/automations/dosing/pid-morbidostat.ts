/**
 * `pid_morbidostat` (Zhong 2020): every `duration` minutes dilute the culture, choosing with a
 * PID on the growth rate what fraction of the dilution is alt media (e.g. a drug), so the growth
 * rate is held at `target_growth_rate` while OD stays near `target_normalized_od`.
 */
import type { JobDeps } from "../../jobs/background-job";
import { Pid } from "../../jobs/pid";
import { encodeMsgspecJson } from "../../pubsub/codec";
import type { AutomationEvent } from "../../pubsub/structs";
import { AutomationSettingError, boolArg, numberArg } from "../base";
import { automationEvent } from "../events";
import { type DosingBaseArgs, type DosingContext, DosingAutomationJob } from "./base";

export interface PidMorbidostatArgs extends DosingBaseArgs {
  target_growth_rate: number | string;
  target_normalized_od: number | string;
  duration?: number | string;
  skip_first_run?: boolean | string;
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new AutomationSettingError(`${name} must be greater than 0 (got ${value}).`);
  return value;
}

export class PidMorbidostat extends DosingAutomationJob {
  static readonly automationName = "pid_morbidostat";
  private readonly args: PidMorbidostatArgs;
  private pid: Pid | undefined;

  constructor(deps: JobDeps, dosing: DosingContext, args: PidMorbidostatArgs) {
    super(
      deps,
      {
        automationName: PidMorbidostat.automationName,
        settings: {
          duration: { datatype: "float", settable: true, unit: "min" },
          target_normalized_od: { datatype: "float", settable: true, unit: "AU" },
          target_growth_rate: { datatype: "float", settable: true, unit: "h⁻¹" },
        },
      },
      dosing,
      args,
      ["media_pump", "waste_pump", "alt_media_pump"],
    );
    this.args = args;
    const a = args as unknown as Record<string, unknown>;
    positive("target_growth_rate", numberArg(a, "target_growth_rate"));
    positive("target_normalized_od", numberArg(a, "target_normalized_od"));
    this.setters.target_growth_rate = (v) => {
      this.setSetting("target_growth_rate", positive("target_growth_rate", Number(v)));
      if (this.pid) this.pid.setpoint = Number(v);
    };
    this.setters.target_normalized_od = (v) => this.setSetting("target_normalized_od", positive("target_normalized_od", Number(v)));
  }

  protected override async setupAutomation(): Promise<void> {
    const a = this.args as unknown as Record<string, unknown>;
    this.setSetting("target_growth_rate", numberArg(a, "target_growth_rate"));
    this.setSetting("target_normalized_od", numberArg(a, "target_normalized_od"));
    const gain = (k: string, fallback: number) => -this.config.getFloat("dosing_automation.pid_morbidostat", k, fallback);
    this.pid = new Pid({
      Kp: gain("Kp", 1),
      Ki: gain("Ki", 0),
      Kd: gain("Kd", 0),
      setpoint: this.targetGrowthRate,
      outputLimits: [0, 1],
      jobName: this.jobName,
      targetName: "growth_rate",
    });
    this.runEvery(numberArg(a, "duration", 60), { skipFirstRun: boolArg(this.args.skip_first_run), runAfterSeconds: 2 });
  }

  private get targetGrowthRate(): number {
    return this.getSetting<number>("target_growth_rate") ?? 0;
  }

  private get durationMinutes(): number {
    return this.getSetting<number>("duration") ?? 60;
  }

  get exchangeVolumeMl(): number {
    return Math.round(this.targetGrowthRate * this.currentVolumeMl * (this.durationMinutes / 60) * 1e4) / 1e4;
  }

  protected override async execute(): Promise<AutomationEvent> {
    const targetOd = this.getSetting<number>("target_normalized_od") ?? 0;
    const od = await this.latestNormalizedOd();
    if (od <= 0.7 * targetOd) return automationEvent("NoEvent", `latest OD less than OD to start diluting, ${(0.7 * targetOd).toFixed(2)}`);
    const fraction = this.pid!.update(await this.latestGrowthRate(), this.durationMinutes / 60);
    this.publishRaw(`pioreactor/${this.unit}/${this.experiment}/pid_log/growth_rate`, encodeMsgspecJson(this.pid!.stats()), { qos: 0 });
    let volume = this.exchangeVolumeMl;
    if (od > 1.25 * targetOd) {
      this.logger.info(`executing larger dilution since we are above max OD, ${(1.25 * targetOd).toFixed(2)}AU.`);
      volume *= 2.5;
    }
    let alt = fraction * volume;
    let media = (1 - fraction) * volume;
    // Pumps are inaccurate for tiny doses, so those are skipped (and not replaced by waste).
    const minimum = this.config.getFloat("dosing_automation.pid_morbidostat", "minimum_dosing_volume_ml", 0.1);
    if (alt < minimum) {
      volume -= alt;
      alt = 0;
    }
    if (media < minimum) {
      volume -= media;
      media = 0;
    }
    const moved = await this.executeIoAction(volume, { alt_media_ml: alt, media_ml: media });
    return automationEvent(
      "AddAltMediaEvent",
      `PID output=${fraction.toFixed(2)}, alt_media_ml=${moved.alt_media_ml.toFixed(2)}mL, media_ml=${moved.media_ml.toFixed(2)}mL`,
      { fraction_of_alt_media_to_add: fraction, alt_media_ml: alt, media_ml: media },
    );
  }
}
