/** `only_record_temperature`: heater off, temperature still inferred and published. */
import type { JobDeps } from "../../jobs/background-job";
import type { AutomationEvent } from "../../pubsub/structs";
import { automationEvent } from "../events";
import { type TemperatureContext, TemperatureAutomationJob } from "./base";

export class OnlyRecordTemperature extends TemperatureAutomationJob {
  static readonly automationName = "only_record_temperature";

  constructor(deps: JobDeps, heating: TemperatureContext) {
    super(deps, { automationName: OnlyRecordTemperature.automationName, settings: {} }, heating);
  }

  protected override async execute(): Promise<AutomationEvent> {
    await this.updateHeater(0);
    return automationEvent("NoEvent");
  }
}
