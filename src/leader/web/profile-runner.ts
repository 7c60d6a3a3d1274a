/**
 * What the web server needs from the experiment-profile executor (written separately). The
 * leader's `/unit_api/jobs/run/job_name/experiment_profile` starts a run through it and
 * `/unit_api/jobs/stop {job_id}` stops one; without a runner, profiles run as `pio run
 * experiment_profile execute …` child processes like any other job.
 */
export interface ProfileRunRequest {
  /** Absolute path of the profile YAML (the `fullpath` the UI got from `GET /api/experiment_profiles`). */
  profilePath: string;
  experiment: string;
  dryRun: boolean;
  /** The request's allow-listed environment (JOB_SOURCE etc.). */
  env: Record<string, string>;
}

export interface ProfileRunner {
  /** Resolves once the run has started (registered in the job registry); rejects with a user-facing message. */
  start(request: ProfileRunRequest): Promise<{ jobId?: number }>;
  /**
   * Stops a run this process hosts. Returns false when the job id is not one of its runs, so the
   * caller falls back to signalling the job's process.
   */
  stop(jobId: number): Promise<boolean>;
}
