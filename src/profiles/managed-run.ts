/**
 * A profile run wrapped in its managed-job lifecycle (spec §1.2 in full): `$state` init/ready,
 * validation (ERROR on failure), the announcement settings, the run, `action_count` as it goes,
 * early stop on `$state/set disconnected` (or `requestStop`), and the clean-up settings at the end.
 */
import type { PubSubClient } from "../pubsub/types";
import type { ProfileExecutor, RunOutcome } from "./executor";
import { PluginsMissingError } from "./executor";
import { ProfileJobLifecycle } from "./profile-job";
import { type StartRunOptions, startProfileRun, validatedProfile } from "./runner";

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
