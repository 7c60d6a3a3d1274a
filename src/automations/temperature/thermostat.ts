/**
 * `thermostat`: after each temperature inference nudge the heater's duty cycle by a PID step
 * toward `target_temperature` (dt = 1 inference; output and integral limited to ±25 %).
 */
import type { JobDeps } from "../../jobs/background-job";
import { Pid } from "../../jobs/pid";
import type { AutomationEvent } from "../../pubsub/structs";
import { formatPyFloat } from "../../util/python-format";
import { AutomationSettingError, numberArg } from "../base";
import { automationEvent } from "../events";
import { type TemperatureContext, TemperatureAutomationJob } from "./base";

export interface ThermostatArgs {
  target_temperature?: number | string;
}

export class Thermostat extends TemperatureAutomationJob {
  static readonly automationName = "thermostat";
  private pid: Pid | undefined;
  private readonly target: number;

  constructor(deps: JobDeps, heating: TemperatureContext, args: ThermostatArgs) {
    super(
      deps,
      { automationName: Thermostat.automationName, settings: { target_temperature: { datatype: "float", settable: true, unit: "℃" } } },
      heating,
    );
    if (args.target_temperature === undefined || args.target_temperature === "") {
      throw new AutomationSettingError("Provide a target temperature: --target-temperature <℃>.");
    }
    this.target = this.checkTarget(numberArg(args as Record<string, unknown>, "target_temperature"));
    this.setters.target_temperature = (v) => {
      const t = this.checkTarget(Number(v));
      this.setSetting("target_temperature", t);
      if (this.pid) this.pid.setpoint = t;
    };
  }

  /** Refuses targets the heater may not reach safely (the original clamped them silently). */
  private checkTarget(t: number): number {
    const max = this.heating.model.maxTempToReduceHeating;
    if (!(t >= 0 && t <= max)) throw new AutomationSettingError(`target_temperature must be in 0 ≤ x ≤ ${max} ℃ (got ${t}).`);
    return t;
  }

  protected override async setupAutomation(): Promise<void> {
    this.setSetting("target_temperature", this.target);
    const gain = (k: string, d: number) => this.config.getFloat("temperature_automation.thermostat", k, d);
    this.pid = new Pid({
      Kp: gain("Kp", 2.6),
      Ki: gain("Ki", 0),
      Kd: gain("Kd", 4.6),
      setpoint: this.target,
      outputLimits: [-25, 25],
      jobName: this.jobName,
      targetName: "temperature",
    });
    if (this.deps.registry.runningJobId("stirring") === undefined) {
      this.logger.warning("It's recommended to have stirring on when using the thermostat.");
    }
  }

  protected override async execute(): Promise<AutomationEvent> {
    const latest = this.latestTemperature;
    if (latest === undefined || !this.pid) return automationEvent("NoEvent", "no temperature yet");
    const output = this.pid.update(latest, 1);
    await this.updateHeaterWithDelta(output);
    this.logger.debug(`PID output = ${formatPyFloat(output)}`);
    return automationEvent("UpdatedHeaterDC", `delta_dc=${formatPyFloat(output)}`, {
      current_dc: this.heaterDutyCycle,
      delta_dc: output,
      target_temperature: this.getSetting<number>("target_temperature") ?? this.target,
      latest_temperature: latest,
    });
  }
}
