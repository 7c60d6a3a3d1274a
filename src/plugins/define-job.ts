/**
 * Turns a plugin's job class into a `pio run` command, so a plugin writes only the job: the
 * experiment, the composed deps, start-up errors and the foreground lifecycle are the same as for
 * built-in jobs. The job gets the plugin's name as its log source.
 */
import { CliError } from "../cli/exit";
import type { JobCommand } from "../jobs/job-command";
import type { PluginJobDefinition } from "./types";

const JOB_NAME = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;

/** Job names the original refuses (its background-job base class). */
const RESERVED = new Set(["run", "dosing_events", "leds", "led_change_events", "unit_label", "pwm", "assignment"]);

/** Throws a message naming the problem; the loader reports it against the plugin. */
export function checkJobName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !JOB_NAME.test(name)) {
    throw new Error(`job name ${JSON.stringify(name)} must be lower-case words joined by underscores, e.g. "my_job"`);
  }
  if (RESERVED.has(name)) throw new Error(`job name "${name}" is reserved`);
}

export function jobCommandFromDefinition(def: PluginJobDefinition, source: string): JobCommand {
  return {
    name: def.name,
    summary: def.summary ?? `${def.name} (plugin ${source})`,
    options: def.options ?? [],
    async run(input) {
      const { runInForeground } = require("../jobs/job-command") as typeof import("../jobs/job-command");
      const experiment = def.longRunning ? "$experiment" : await input.ctx.experiment();
      const deps = await input.ctx.jobDeps(experiment);
      const job = await def.create(deps, { ...input, source });
      try {
        await job.start();
      } catch (e) {
        // The same one-line errors a built-in job gives for these user-facing conditions.
        if (e instanceof Error && (e.name === "JobPresentError" || e.name === "NotActiveWorkerError")) throw new CliError(e.message);
        throw e;
      }
      return runInForeground(job);
    },
  };
}

/** `config` would collide with the `[<family>_automation.config]` section; names are identifiers. */
export function checkAutomationName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !/^[A-Za-z0-9_]+$/.test(name)) {
    throw new Error(`automation name ${JSON.stringify(name)} must be letters, digits and underscores`);
  }
  if (name === "config") throw new Error('automation name "config" is reserved');
}
