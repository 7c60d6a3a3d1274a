/**
 * Stopping jobs on this unit, as `pio kill` does: the matching rows of the local job registry, in
 * the original's priority order (pumps and heaters first). Jobs are told to stop with SIGINT;
 * jobs hosted inside this server are stopped directly, profile runs through the ProfileRunner, and `led_intensity`
 * (not a long-running process) is "stopped" by turning the LEDs off.
 */
import type { JobRecord, JobRegistry, KillFilter } from "../../jobs/registry";
import type { ProfileRunner } from "./profile-runner";

export interface JobStopper {
  /** Stops jobs matching every given field; resolves to how many were stopped. */
  stop(filter: KillFilter): Promise<number>;
  /** `pio kill --all-jobs`: everything except long-running jobs. */
  stopAll(): Promise<number>;
}

export interface RegistryJobStopperDeps {
  registry: JobRegistry;
  /** Sends SIGINT to these pids. */
  signal(pids: number[]): void;
  /** `pio run led_intensity --A 0 --B 0 --C 0 --D 0`; resolves whether it worked. */
  turnOffLeds?: () => Promise<boolean>;
  profileRunner?: ProfileRunner;
  /** Jobs hosted in this server (`[pio_serve] host_jobs`): stopped directly, by registry id. */
  hostedJobs?: { stopJob(jobId: number): Promise<boolean> };
  /**
   * For a row of this server's pid that neither the hosted jobs nor the profile runner claim (a
   * hosted action: pumps, od_blank): `$state/set` `disconnected` over MQTT, which actions obey.
   */
  askToStop?: (job: JobRecord) => Promise<void>;
  /** This server's pid: registry rows with it are hosted here and must not be signalled. */
  ownPid?: number;
}

export class RegistryJobStopper implements JobStopper {
  constructor(private readonly deps: RegistryJobStopperDeps) {}

  stop(filter: KillFilter): Promise<number> {
    return this.kill(filter, false);
  }

  stopAll(): Promise<number> {
    return this.kill({}, true);
  }

  private async kill(filter: KillFilter, all: boolean): Promise<number> {
    const ownPid = this.deps.ownPid ?? process.pid;
    let count = 0;
    const pids: number[] = [];
    for (const job of this.deps.registry.jobsToKill(filter, all)) {
      if (job.job_name === "led_intensity") {
        if (this.deps.turnOffLeds && (await this.deps.turnOffLeds())) {
          this.deps.registry.setNotRunning(job.job_id);
          count++;
        }
      } else if (job.pid === ownPid) {
        if (this.deps.hostedJobs && (await this.deps.hostedJobs.stopJob(job.job_id))) count++;
        else if (this.deps.profileRunner && (await this.deps.profileRunner.stop(job.job_id))) count++;
        else if (this.deps.askToStop) {
          await this.deps.askToStop(job);
          count++;
        }
      } else {
        pids.push(job.pid);
      }
    }
    if (pids.length > 0) this.deps.signal(pids);
    return count + pids.length;
  }
}
