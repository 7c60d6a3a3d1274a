/**
 * Stopping jobs on one simulated unit, as `pio kill` does on a Pi: the matching rows of the unit's
 * job registry, in the registry's priority order. All of a simulated unit's jobs live in this
 * process (one pid), so instead of a signal each job object is stopped directly; it then clears its
 * settings and publishes `$state` `disconnected`, exactly as on SIGINT.
 */
import type { KillFilter } from "../../jobs/registry";
import type { JobLauncher } from "../../leader/web/job-launcher";
import type { JobStopper } from "../../leader/web/job-stopper";
import type { SimUnit } from "../sim-unit";

export class SimUnitJobStopper implements JobStopper {
  constructor(
    private readonly unit: SimUnit,
    /** Used to turn the LEDs off, the way `led_intensity` is "stopped". */
    private readonly launcher: JobLauncher,
  ) {}

  stop(filter: KillFilter): Promise<number> {
    return this.kill(filter, false);
  }

  stopAll(): Promise<number> {
    return this.kill({}, true);
  }

  private async kill(filter: KillFilter, all: boolean): Promise<number> {
    const registry = this.unit.parts.registry;
    let count = 0;
    for (const row of registry.jobsToKill(filter, all)) {
      if (row.job_name === "led_intensity") {
        const off = await this.launcher
          .launch({ jobName: "led_intensity", args: [], options: { A: 0, B: 0, C: 0, D: 0 }, configOverrides: [], env: { EXPERIMENT: row.experiment } })
          .then(() => true)
          .catch(() => false);
        if (off) {
          registry.setNotRunning(row.job_id);
          count++;
        }
        continue;
      }
      const job = this.unit.job(row.job_name);
      if (job && job.jobId === row.job_id) {
        await job.stop("signal Interrupt");
        count++;
      }
    }
    return count;
  }
}
