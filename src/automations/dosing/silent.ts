/** `silent` dosing: never doses (keeps the vial state published and followed). */
import type { JobDeps } from "../../jobs/background-job";
import type { AutomationEvent } from "../../pubsub/structs";
import { type DosingBaseArgs, type DosingContext, DosingAutomationJob } from "./base";

export class SilentDosing extends DosingAutomationJob {
  static readonly automationName = "silent";

  constructor(deps: JobDeps, dosing: DosingContext, args: DosingBaseArgs = {}) {
    super(deps, { automationName: SilentDosing.automationName, settings: {} }, dosing, args);
  }

  protected override async execute(): Promise<AutomationEvent | undefined> {
    return undefined;
  }
}
