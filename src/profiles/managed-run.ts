/**
 * A profile run wrapped in its managed-job lifecycle (spec §1.2 in full): `$state` init/ready,
 * validation (ERROR on failure), the announcement settings, the run, `action_count` as it goes,
 * early stop on `$state/set disconnected` (or `requestStop`), and the clean-up settings at the end.
 * A resumed run goes through the same lifecycle under the job key it was journaled with.
 */
import type { PubSubClient } from "../pubsub/types";
import type { ProfileExecutor, RunOutcome } from "./executor";
import { PluginsMissingError } from "./executor";
import type { RunRecord } from "./journal";
import { jobIdOfProfileKey, ProfileJobLifecycle } from "./profile-job";
import { type ResumeRunOptions, resumeProfileRun, type StartRunOptions, startProfileRun, validatedProfile } from "./runner";

export interface ManagedRunOptions extends Omit<StartRunOptions, "jobKey"> {
  pubsub: PubSubClient;
  leader: string;
  jobId: number;
  recordSetting?(setting: string, value: string | null): void;
}

export async function runManagedProfile(o: ManagedRunOptions): Promise<RunOutcome> {
  const lifecycle = new ProfileJobLifecycle(o.pubsub, { leader: o.leader, experiment: o.experiment, jobId: o.jobId }, o.clock, o.recordSetting);
  let executor: ProfileExecutor | undefined;
  let stopEarly = false;
  lifecycle.onStopRequested(() => {
    stopEarly = true;
    executor?.requestStop();
  });
  await lifecycle.begin();
  let announced = false;
  let clearAtEnd = true;
  try {
    const profile = validatedProfile(o.text, o.filename, (m) => o.logger.error(m));
    await lifecycle.announce(profile.experiment_profile_name, o.filename);
    announced = true;
    return await startProfileRun({
      ...o,
      profile,
      jobKey: lifecycle.jobKey,
      onActionCount: (n) => {
        lifecycle.actionCount(n);
        o.onActionCount?.(n);
      },
      onExecutor: (ex, runId) => {
        executor = ex;
        if (stopEarly) ex.requestStop();
        o.onExecutor?.(ex, runId);
      },
    });
  } catch (err) {
    // As the original: after a plugin failure the name and start time stay published.
    if (err instanceof PluginsMissingError) clearAtEnd = false;
    throw err;
  } finally {
    await lifecycle.end(announced && clearAtEnd);
  }
}

export interface ManagedResumeOptions extends Omit<ResumeRunOptions, "runId"> {
  /** The unfinished run to continue (from `JournalStore.unfinishedRuns()` or `run(id)`). */
  run: RunRecord;
  pubsub: PubSubClient;
  leader: string;
  recordSetting?(setting: string, value: string | null): void;
}

/**
 * Continue a journaled run as the same managed job: `$state`, the announcement (with the run's
 * original start time) and `action_count` are published under the run's journaled job key, the
 * key its started jobs carry as JOB_SOURCE, so the UI and the early-stop kill see one job that
 * came back rather than a new one. Connect with `profileJobLastWill` for that same key.
 */
export async function resumeManagedProfile(o: ManagedResumeOptions): Promise<RunOutcome & { run: RunRecord }> {
  const jobId = jobIdOfProfileKey(o.run.jobKey);
  if (jobId === undefined) throw new Error(`Profile run ${o.run.runId} has no managed job key (${o.run.jobKey}); it cannot be resumed as a job.`);
  const lifecycle = new ProfileJobLifecycle(o.pubsub, { leader: o.leader, experiment: o.run.experiment, jobId }, o.clock, o.recordSetting);
  let executor: ProfileExecutor | undefined;
  let stopEarly = false;
  lifecycle.onStopRequested(() => {
    stopEarly = true;
    executor?.requestStop();
  });
  await lifecycle.begin();
  let announced = false;
  try {
    const profile = validatedProfile(o.run.profileText, o.run.profileFilename, (m) => o.logger.error(m));
    await lifecycle.announce(profile.experiment_profile_name, o.run.profileFilename, o.run.startMs);
    announced = true;
    return await resumeProfileRun({
      ...o,
      runId: o.run.runId,
      onActionCount: (n) => {
        lifecycle.actionCount(n);
        o.onActionCount?.(n);
      },
      onExecutor: (ex, run) => {
        executor = ex;
        if (stopEarly) ex.requestStop();
        o.onExecutor?.(ex, run);
      },
    });
  } finally {
    await lifecycle.end(announced);
  }
}
