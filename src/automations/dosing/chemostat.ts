/**
 * `chemostat`: every `duration` minutes exchange `exchange_volume_ml` of culture for fresh media,
 * so the dilution rate is D = exchange_volume / (vial volume · duration) and at steady state the
 * culture grows at μ = D.
 */
import type { JobDeps } from "../../jobs/background-job";
import type { AutomationEvent } from "../../pubsub/structs";
import { formatPyFloat } from "../../util/python-format";
import { AutomationSettingError, boolArg, numberArg } from "../base";
import { automationEvent } from "../events";
import { type DosingBaseArgs, type DosingContext, DosingAutomationJob } from "./base";

export interface ChemostatArgs extends DosingBaseArgs {
  exchange_volume_ml: number | string;
  duration?: number | string;
  skip_first_run?: boolean | string;
}

export class Chemostat extends DosingAutomationJob {
  static readonly automationName = "chemostat";
  private readonly args: ChemostatArgs;

  constructor(deps: JobDeps, dosing: DosingContext, args: ChemostatArgs) {
    super(
      deps,
      {
        automationName: Chemostat.automationName,
        settings: {
          duration: { datatype: "float", settable: true, unit: "min" },
          exchange_volume_ml: { datatype: "float", settable: true, unit: "mL" },
        },
      },
      dosing,
      args,
      ["media_pump", "waste_pump"],
    );
    this.args = args;
    checkExchangeVolume(numberArg(args as unknown as Record<string, unknown>, "exchange_volume_ml"));
    this.setters.exchange_volume_ml = (v) => this.setSetting("exchange_volume_ml", checkExchangeVolume(Number(v)));
  }

  protected override async setupAutomation(): Promise<void> {
    const a = this.args as unknown as Record<string, unknown>;
    this.setSetting("exchange_volume_ml", numberArg(a, "exchange_volume_ml"));
    this.runEvery(numberArg(a, "duration", 20), { skipFirstRun: boolArg(this.args.skip_first_run), runAfterSeconds: 2 });
  }

  protected override async execute(): Promise<AutomationEvent> {
    const v = this.getSetting<number>("exchange_volume_ml") ?? 0;
    const moved = await this.executeIoAction(v, { media_ml: v });
    return automationEvent("DilutionEvent", `exchanged ${formatPyFloat(moved.media_ml)}mL`, {
      exchange_volume_ml: v,
      volume_actually_cycled_ml: moved.media_ml,
    });
  }
}

/** An exchange volume must be positive and at most 10 mL (bigger single exchanges are a typo). */
export function checkExchangeVolume(ml: number): number {
  if (!(ml > 0 && ml <= 10)) throw new AutomationSettingError(`exchange_volume_ml must be in 0 < x ≤ 10 mL (got ${ml}).`);
  return ml;
}
