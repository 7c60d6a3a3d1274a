/** `silent` LED automation: never changes the LEDs. */
import type { JobDeps } from "../../jobs/background-job";
import type { AutomationEvent } from "../../pubsub/structs";
import { automationEvent } from "../events";
import { type LedSetter, LedAutomationJob } from "./base";

export class SilentLed extends LedAutomationJob {
  static readonly automationName = "silent";
  constructor(deps: JobDeps, leds: LedSetter) {
    super(deps, { automationName: SilentLed.automationName, settings: {} }, leds);
  }
  protected override async execute(): Promise<AutomationEvent> {
    return automationEvent("NoEvent");
  }
}
