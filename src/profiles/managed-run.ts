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
  return underLifecycle(lifecycle, o.onActionCount, async (run) => {
    try {
      const profile = validatedProfile(o.text, o.filename, (m) => o.logger.error(m));
      await lifecycle.announce(profile.experiment_profile_name, o.filename);
      run.announced();
      return await startProfileRun({
        ...o,
        profile,
        jobKey: lifecycle.jobKey,
        onActionCount: run.onActionCount,
        onExecutor: (ex, runId) => {
          run.onExecutor(ex);
          o.onExecutor?.(ex, runId);
        },
      });
    } catch (err) {
      // As the original: after a plugin failure the name and start time stay published.
      if (err instanceof PluginsMissingError) run.keepAnnouncement();
      throw err;
    }
  });
}

/** What a run inside `underLifecycle` reports to its lifecycle. */
interface LifecycleRun {
  /** The announcement settings are out: `end` clears them (unless `keepAnnouncement`). */
  announced(): void;
  keepAnnouncement(): void;
  onActionCount(n: number): void;
  /** The run's executor, which an early stop (before or after this call) stops. */
  onExecutor(executor: ProfileExecutor): void;
}

/** `$state` from init to disconnected around `body`, with early stop and `action_count` wired in. */
async function underLifecycle<T>(lifecycle: ProfileJobLifecycle, onActionCount: ((n: number) => void) | undefined, body: (run: LifecycleRun) => Promise<T>): Promise<T> {
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
    return await body({
      announced: () => {
        announced = true;
      },
      keepAnnouncement: () => {
        clearAtEnd = false;
      },
      onActionCount: (n) => {
        lifecycle.actionCount(n);
        onActionCount?.(n);
      },
      onExecutor: (ex) => {
        executor = ex;
        if (stopEarly) ex.requestStop();
      },
    });
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
  return underLifecycle(lifecycle, o.onActionCount, async (run) => {
    const profile = validatedProfile(o.run.profileText, o.run.profileFilename, (m) => o.logger.error(m));
    await lifecycle.announce(profile.experiment_profile_name, o.run.profileFilename, o.run.startMs);
    run.announced();
    return await resumeProfileRun({
      ...o,
      runId: o.run.runId,
      onActionCount: run.onActionCount,
      onExecutor: (ex, record) => {
        run.onExecutor(ex);
        o.onExecutor?.(ex, record);
      },
    });
  });
}
