/**
 * The profile run as a managed job on the leader (spec §1.2, §1.3; capture 07): under
 * `pioreactor/<leader>/<exp>/experiment_profile/<job_id>/…` it publishes `$state`
 * (init → ready → disconnected, last will `lost`), `experiment_profile_name`, `start_time_utc`,
 * `profile_filename` and `action_count`, all retained QoS 2, and it listens on the four
 * `$state/set` topics for `disconnected`, which asks the run to stop early.
 *
 * This is a small lifecycle of its own rather than a `BackgroundJob`: the job's key has two levels
 * (`experiment_profile/<id>`), several runs may share an experiment, and the only settable thing
 * is `$state`.
 */
import { jobKey as makeJobKey, managedLifecycleStopTopics } from "../pubsub/topics";
import type { LastWill, PubSubClient, Subscription } from "../pubsub/types";
import type { Clock } from "../util/clock";
import { formatMillisTimestamp } from "../util/python-format";

export const PROFILE_JOB_NAME = "experiment_profile";

export interface ProfileJobIdentity {
  leader: string;
  experiment: string;
  jobId: number;
}

export function profileJobKey(jobId: number): string {
  return makeJobKey(PROFILE_JOB_NAME, jobId);
}

/** The job id inside `experiment_profile/<id>`, or undefined for any other key. */
export function jobIdOfProfileKey(jobKey: string): number | undefined {
  const m = /^experiment_profile\/(\d+)$/.exec(jobKey);
  return m ? Number(m[1]) : undefined;
}

function base(id: ProfileJobIdentity): string {
  return `pioreactor/${id.leader}/${id.experiment}/${profileJobKey(id.jobId)}`;
}

/** The last will to connect with: `$state = lost`, retained, QoS 2. */
export function profileJobLastWill(id: ProfileJobIdentity): LastWill {
  return { topic: `${base(id)}/$state`, payload: "lost", qos: 2, retain: true };
}

export class ProfileJobLifecycle {
  private subscription: Subscription | undefined;
  private stopListeners: Array<() => void> = [];
  /** Counts not yet published (see `actionCount`). */
  private pendingCounts: number[] = [];

  constructor(
    private readonly pubsub: PubSubClient,
    private readonly id: ProfileJobIdentity,
    private readonly clock: Clock,
    /** Mirror of every published setting, e.g. into the local job registry (what the API reads). */
    private readonly recordSetting?: (setting: string, value: string | null) => void,
  ) {}

  get jobKey(): string {
    return profileJobKey(this.id.jobId);
  }

  onStopRequested(listener: () => void): void {
    this.stopListeners.push(listener);
  }

  private async publish(setting: string, value: string | null): Promise<void> {
    this.recordSetting?.(setting, value);
    await this.pubsub.publish(`${base(this.id)}/${setting}`, value ?? "", { qos: 2, retain: true });
  }

  /** §1.2 step 1: init, listen for `$state/set`, ready. */
  async begin(): Promise<void> {
    await this.publish("$state", "init");
    const topics = managedLifecycleStopTopics(this.id.leader, this.id.experiment, this.jobKey);
    this.subscription = await this.pubsub.subscribe(
      topics,
      (m) => {
        if (m.payload.toString("utf8") === "disconnected") for (const l of this.stopListeners) l();
      },
      { qos: 2, allowRetained: false },
    );
    await this.publish("$state", "ready");
  }

  /** §1.2 step 4, after the profile validated. */
  async announce(profileName: string, filename: string, startMs = this.clock.now()): Promise<void> {
    await this.publish("experiment_profile_name", profileName);
    await this.publish("start_time_utc", formatMillisTimestamp(startMs));
    await this.publish("profile_filename", filename);
  }

  /**
   * Every count is published, in order, but at the end of the event-loop turn: when 50 actions fall
   * due at one instant, their requests leave first and the 50 retained QoS 2 messages follow, and
   * the registry row is written once with the last count.
   */
  actionCount(n: number): void {
    this.pendingCounts.push(n);
    if (this.pendingCounts.length === 1) setImmediate(() => this.flushActionCounts());
  }

  private flushActionCounts(): void {
    const counts = this.pendingCounts;
    if (counts.length === 0) return;
    this.pendingCounts = [];
    this.recordSetting?.("action_count", String(counts[counts.length - 1]));
    for (const n of counts) {
      this.pubsub.publish(`${base(this.id)}/action_count`, String(n), { qos: 2, retain: true }).catch(() => undefined);
    }
  }

  /** §1.2 step 12: clear name and start time (unless a plugin/build failure left them, as the original), then disconnected. */
  async end(clearAnnouncement = true): Promise<void> {
    this.flushActionCounts();
    if (clearAnnouncement) {
      await this.publish("experiment_profile_name", null);
      await this.publish("start_time_utc", null);
    }
    await this.subscription?.unsubscribe().catch(() => undefined);
    await this.publish("$state", "disconnected");
  }
}
