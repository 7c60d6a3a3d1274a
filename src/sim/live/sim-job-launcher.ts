/**
 * Starts jobs on one simulated unit the way `pio run` would start them on a Pi: the unit API's run
 * request (job name, options, config overrides, the env the leader adds) becomes a call into the
 * SimUnit, which builds the real job class on the unit's simulated hardware. Options reach the job
 * as the text a `pio run <job> --key value` child would have parsed.
 */
import type { ConfigOverride } from "../../config/layered";
import type { JobLauncher, JobLaunchRequest } from "../../leader/web/job-launcher";
import { pythonStr } from "../../leader/web/job-launcher";
import type { JobOptions } from "../job-factories";
import type { SimUnit } from "../sim-unit";

/** `{target_rpm: 400}` → `{target_rpm: "400"}`; a bare flag (`null`) is a true boolean option. */
export function optionsAsText(options: Record<string, unknown>): JobOptions {
  const out: JobOptions = {};
  for (const [name, value] of Object.entries(options)) out[name] = value === null || value === undefined ? "True" : pythonStr(value);
  return out;
}

export interface SimJobLauncherDeps {
  unit: SimUnit;
  /** Used when the request names no `EXPERIMENT` (a direct `/unit_api` call): the unit's assignment. */
  currentExperiment(): string;
  /**
   * The unit's configuration as it is now (its config.ini and unit_config.ini), read at every start
   * as a `pio run` child reads it, layered over the simulation's shipped defaults.
   */
  unitConfig?(): ConfigOverride[];
}

export class SimUnitJobLauncher implements JobLauncher {
  constructor(private readonly deps: SimJobLauncherDeps) {}

  async launch(request: JobLaunchRequest): Promise<{ ok: true }> {
    // Stop then start at once (the UI's restart): a job that has already published `disconnected`
    // is only closing its connection; a Pi's `pio run` would not be refused for it either.
    const previous = this.deps.unit.job(request.jobName);
    if (previous && previous.state === "disconnected") await previous.disconnectedPromise;
    const result = await this.deps.unit.start(request.jobName, {
      experiment: request.env.EXPERIMENT || this.deps.currentExperiment(),
      jobSource: request.env.JOB_SOURCE || "user",
      options: optionsAsText(request.options),
      configOverrides: [...(this.deps.unitConfig?.() ?? []), ...request.configOverrides],
    });
    // The same outcome a failed `pio run` child reports to the task: its error line.
    if (!result.ok) throw new Error(result.error ?? `${request.jobName} did not start on ${this.deps.unit.name}.`);
    return { ok: true };
  }
}
