/**
 * Which processes host jobs in-process (`pio serve` with `[pio_serve] host_jobs = true`). A hosted
 * job's registry row carries its host's pid, so a signal to that pid would stop the whole daemon:
 * `pio kill` reads this list to ask such jobs to stop over MQTT instead. Kept in the unit's
 * intermittent cache (a table of our own), which is cleared at boot like the registry.
 */
import type { KeyValueCache } from "./local-storage";

export const JOB_HOSTS_CACHE = "pio_serve_job_hosts";

export class JobHosts {
  constructor(private readonly cache: KeyValueCache) {}

  add(pid: number): void {
    this.cache.set(pid, "pio serve");
  }

  remove(pid: number): void {
    this.cache.delete(pid);
  }

  isHost(pid: number): boolean {
    return this.cache.has(pid);
  }
}
