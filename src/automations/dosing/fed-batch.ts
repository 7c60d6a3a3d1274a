/** `fed_batch`: add `dosing_volume_ml` of media every `duration` minutes, never removing any. */
import type { JobDeps } from "../../jobs/background-job";
import type { AutomationEvent } from "../../pubsub/structs";
import { formatPyFloat } from "../../util/python-format";
import { AutomationSettingError, boolArg, numberArg } from "../base";
import { automationEvent } from "../events";
import { type DosingBaseArgs, type DosingContext, DosingAutomationJob } from "./base";

export interface FedBatchArgs extends DosingBaseArgs {
  dosing_volume_ml: number | string;
  duration?: number | string;
  skip_first_run?: boolean | string;
}

function checkDose(ml: number): number {
  if (!(ml > 0 && ml <= 10)) throw new AutomationSettingError(`dosing_volume_ml must be in 0 < x ≤ 10 mL (got ${ml}).`);
  return ml;
}

export class FedBatch extends DosingAutomationJob {
  static readonly automationName = "fed_batch";
  private readonly args: FedBatchArgs;

  constructor(deps: JobDeps, dosing: DosingContext, args: FedBatchArgs) {
    super(
      deps,
      {
        automationName: FedBatch.automationName,
        settings: {
          duration: { datatype: "float", settable: true, unit: "min" },
          dosing_volume_ml: { datatype: "float", settable: true, unit: "mL" },
        },
      },
      dosing,
      args,
      ["media_pump"],
    );
    this.args = args;
    checkDose(numberArg(args as unknown as Record<string, unknown>, "dosing_volume_ml"));
    this.setters.dosing_volume_ml = (v) => this.setSetting("dosing_volume_ml", checkDose(Number(v)));
  }

  protected override async setupAutomation(): Promise<void> {
    this.logger.warning(
      "When using the fed-batch automation, no liquid is removed. Carefully monitor the level of liquid to avoid overflow!",
    );
    const a = this.args as unknown as Record<string, unknown>;
    this.setSetting("dosing_volume_ml", numberArg(a, "dosing_volume_ml"));
    this.runEvery(numberArg(a, "duration", 720), { skipFirstRun: boolArg(this.args.skip_first_run), runAfterSeconds: 2 });
  }

  protected override async execute(): Promise<AutomationEvent> {
    const dose = this.getSetting<number>("dosing_volume_ml") ?? 0;
    if (this.currentVolumeMl + dose >= this.maxVialVolumeToStop) {
      this.logger.error(
        `Skipping fed-batch dose since ${formatPyFloat(this.currentVolumeMl)} + ${formatPyFloat(dose)} mL is beyond safety threshold ${formatPyFloat(this.maxVialVolumeToStop)} mL.`,
      );
      await this.setState("sleeping");
      return automationEvent("NoEvent", "Skipped dosing to avoid overflow.");
    }
    const moved = await this.runPump("media_pump", dose);
    if (moved !== dose) this.logger.warning("Under-dosed!");
    return automationEvent("AddMediaEvent", `Added ${formatPyFloat(moved)} mL`);
  }
}
