/**
 * Experiment profiles run inside `pio serve` on the leader instead of as `pio run
 * experiment_profile` children: each run is a managed profile job (the same `$state`, settings and
 * log lines as the child would publish) on the server's own MQTT connection, registered in the
 * unit's job registry with the server's pid (so `/unit_api/jobs/stop {job_id}` comes back here) and
 * journaled, so a server restart can pick it up where it was instead of losing it.
 *
 * The profile engine is loaded lazily: a worker's `pio serve` never needs it.
 */
import fs from "node:fs";
import path from "node:path";
import type { Logger, LogSink } from "../../jobs/logger";
import { type JobRegistry, type PidAlive, processIsAlive } from "../../jobs/registry";
import type { ClusterClient } from "../../profiles/cluster-client";
import type { MissedActionPolicy, ProfileExecutor } from "../../profiles/executor";
import type { JournalStore, RunRecord } from "../../profiles/journal";
import type { PubSubClient } from "../../pubsub/types";
import type { Clock } from "../../util/clock";
import type { ProfileRunner, ProfileRunRequest } from "./profile-runner";
import { resolveInside } from "./safe-files";

type Engine = typeof import("../../profiles/engine");
const engine = (): Engine => require("../../profiles/engine") as Engine;

export interface InProcessProfileRunnerDeps {
  /** This unit (the leader): the profile jobs publish under it. */
  unit: string;
  /** The server's MQTT connection: the jobs' topics, `$state/set` stop requests and expression lookups. */
  pubsub: PubSubClient;
  registry: JobRegistry;
  journal: JournalStore;
  /** HTTP to the units' `/unit_api` and the leader's `/api`. */
  cluster: ClusterClient;
  clock: Clock;
  /** Profiles are read from here only (the UI sends paths from `GET /api/experiment_profiles`). */
  dotPioreactor: string;
  /** The original's test mode: every unit counts as assigned and active. */
  testing: boolean;
  /** Where a run's log lines go besides MQTT (the server's log file). */
  logSinks?: LogSink[];
  /** The registry pid of hosted runs; default this process. */
  pid?: number;
  isAlive?: PidAlive;
  /** The server's own account of what it did (start, resume, skip). */
  log?: (line: string) => void;
}

interface HostedRun {
  executor?: ProfileExecutor;
  stopRequested: boolean;
  finished: Promise<void>;
}

export interface ResumeDecision {
  runId: number;
  action: "resumed" | "skipped";
  reason?: string;
}

export const RESUME_POLICIES: readonly MissedActionPolicy[] = ["catch-up", "skip", "abort"];

/** `experiment_profile/<id>` → id. */
function jobIdOfKey(jobKey: string): number | undefined {
  const m = /^experiment_profile\/(\d+)$/.exec(jobKey);
  return m ? Number(m[1]) : undefined;
}

export class InProcessProfileRunner implements ProfileRunner {
  private readonly runs = new Map<number, HostedRun>();
  private closing = false;

  constructor(private readonly deps: InProcessProfileRunnerDeps) {}

  private get pid(): number {
    return this.deps.pid ?? process.pid;
  }

  private say(line: string): void {
    this.deps.log?.(line);
  }

  async start(request: ProfileRunRequest): Promise<{ jobId?: number }> {
    if (this.closing) throw new Error("The server is shutting down; start the profile again once it is back.");
    const file = this.profileFile(request.profilePath);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      throw new Error(`Could not read profile ${request.profilePath}.`);
    }
    const p = engine();
    // Refused before anything is registered or published: the task fails with the first error.
    const profile = p.validatedProfile(text, path.basename(file));
    const jobId = this.register(request.experiment, request.env.JOB_SOURCE || "user");
    this.host(jobId, async (hosted, logger, lookups) => {
      await p.runManagedProfile({
        text,
        filename: path.basename(file),
        profile,
        experiment: request.experiment,
        dryRun: request.dryRun,
        pubsub: this.deps.pubsub,
        leader: this.deps.unit,
        jobId,
        store: this.deps.journal,
        cluster: this.deps.cluster,
        clock: this.deps.clock,
        logger: logger(jobId, request.experiment),
        lookups: lookups(request.experiment),
        testing: this.deps.testing,
        installedPlugins: {},
        recordSetting: (setting, value) => this.deps.registry.upsertSetting(jobId, setting, value),
        onExecutor: (ex) => this.adopt(hosted, ex),
      });
    });
    this.say(`Started profile ${path.basename(file)} in ${request.experiment} as job ${jobId}.`);
    return { jobId };
  }

  async stop(jobId: number): Promise<boolean> {
    const hosted = this.runs.get(jobId);
    if (!hosted) return false;
    hosted.stopRequested = true;
    hosted.executor?.requestStop();
    return true;
  }

  /**
   * Continues every journaled run that is still open, as `pio profile resume` would, except runs
   * whose registry row shows them alive in another process (a `pio run experiment_profile` child).
   */
  async resumeInterrupted(policy: MissedActionPolicy): Promise<ResumeDecision[]> {
    const decisions: ResumeDecision[] = [];
    for (const run of this.deps.journal.unfinishedRuns()) {
      const oldId = jobIdOfKey(run.jobKey);
      const row = oldId !== undefined ? this.deps.registry.job(oldId) : undefined;
      const alive = this.deps.isAlive ?? processIsAlive;
      if (row && row.is_running === 1 && row.pid !== this.pid && alive(row.pid)) {
        const reason = `still running in process ${row.pid}`;
        this.say(`Profile run ${run.runId} (${run.profileFilename}, ${run.experiment}) not resumed: ${reason}.`);
        decisions.push({ runId: run.runId, action: "skipped", reason });
        continue;
      }
      if (row && row.is_running === 1) this.deps.registry.setNotRunning(row.job_id);
      this.resume(run, oldId, policy);
      decisions.push({ runId: run.runId, action: "resumed" });
    }
    return decisions;
  }

  private resume(run: RunRecord, oldId: number | undefined, policy: MissedActionPolicy): void {
    const p = engine();
    const jobId = this.register(run.experiment, "user");
    // The run keeps publishing under its journaled key, so units and the UI see the same job.
    const lifecycleId = oldId ?? jobId;
    this.host(jobId, async (hosted, logger, lookups) => {
      const profile = p.validatedProfile(run.profileText, run.profileFilename);
      const lifecycle = new p.ProfileJobLifecycle(this.deps.pubsub, { leader: this.deps.unit, experiment: run.experiment, jobId: lifecycleId }, this.deps.clock, (s, v) =>
        this.deps.registry.upsertSetting(jobId, s, v),
      );
      lifecycle.onStopRequested(() => {
        hosted.stopRequested = true;
        hosted.executor?.requestStop();
      });
      await lifecycle.begin();
      try {
        await lifecycle.announce(profile.experiment_profile_name, run.profileFilename, run.startMs);
        await p.resumeProfileRun({
          store: this.deps.journal,
          runId: run.runId,
          policy,
          cluster: this.deps.cluster,
          clock: this.deps.clock,
          logger: logger(lifecycleId, run.experiment),
          lookups: lookups(run.experiment),
          testing: this.deps.testing,
          installedPlugins: {},
          onActionCount: (n) => lifecycle.actionCount(n),
          onExecutor: (ex) => this.adopt(hosted, ex),
        });
      } finally {
        await lifecycle.end(true);
      }
    });
    this.say(`Resuming profile run ${run.runId} (${run.profileFilename}, ${run.experiment}) as job ${jobId} with policy ${policy}.`);
  }

  /**
   * Server shutdown: every hosted run is dropped as a crash would drop it (its journal stays
   * open), so the next `pio serve` resumes it.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const hosted of this.runs.values()) hosted.executor?.abandon();
    await Promise.all([...this.runs.values()].map((h) => h.finished));
  }

  private profileFile(requested: string): string {
    // Relative names are taken from the profiles folder; absolute paths must stay inside $DOT_PIOREACTOR.
    const full = path.isAbsolute(requested) ? requested : path.join(this.deps.dotPioreactor, "experiment_profiles", requested);
    return resolveInside(this.deps.dotPioreactor, path.relative(this.deps.dotPioreactor, full));
  }

  private register(experiment: string, jobSource: string): number {
    const p = engine();
    return this.deps.registry.register({
      unit: this.deps.unit,
      experiment,
      jobName: p.PROFILE_JOB_NAME,
      jobSource,
      pid: this.pid,
      leader: this.deps.unit,
      isLongRunning: true,
    });
  }

  private adopt(hosted: HostedRun, executor: ProfileExecutor): void {
    hosted.executor = executor;
    if (this.closing) executor.abandon();
    else if (hosted.stopRequested) executor.requestStop();
  }

  /** Runs `work` in the background as registry job `jobId`, cleaning up whatever way it ends. */
  private host(
    jobId: number,
    work: (
      hosted: HostedRun,
      logger: (keyId: number, experiment: string) => Logger,
      lookups: (experiment: string) => import("../../profiles/mqtt-lookups").MqttLookupCache,
    ) => Promise<void>,
  ): void {
    const p = engine();
    const { JobLogger, MqttLogSink } = require("../../jobs/logger") as typeof import("../../jobs/logger");
    const caches: Array<{ close(): Promise<void> }> = [];
    const hosted: HostedRun = { stopRequested: false, finished: Promise.resolve() };
    const logger = (keyId: number, experiment: string) =>
      new JobLogger({ task: p.profileJobKey(keyId), source: "app", unit: this.deps.unit, experiment }, this.deps.clock, [
        ...(this.deps.logSinks ?? []),
        new MqttLogSink(this.deps.pubsub),
      ]);
    const lookups = (experiment: string) => {
      const testing = this.deps.testing;
      const cluster = this.deps.cluster;
      const cache = new p.MqttLookupCache({
        pubsub: this.deps.pubsub,
        experimentOf: async (u) => (testing ? experiment : ((await cluster.assignedExperiment(u)) ?? "$no_experiment_present")),
        ...(testing ? {} : { isActive: async (u: string) => (await cluster.workerInfo(u))?.isActive ?? false }),
      });
      caches.push(cache);
      return cache;
    };
    this.runs.set(jobId, hosted);
    hosted.finished = (async () => {
      try {
        await work(hosted, logger, lookups);
      } catch (e) {
        // The run already logged its failure under its own task; this is the server's note.
        this.say(`Profile job ${jobId} ended with an error: ${(e as Error).message}`);
      } finally {
        this.deps.registry.setNotRunning(jobId);
        for (const c of caches) await c.close().catch(() => undefined);
        this.runs.delete(jobId);
      }
    })();
  }

  /** Resolves when job `jobId` (hosted here) has ended; for tests and orderly shutdown. */
  async whenEnded(jobId: number): Promise<void> {
    await this.runs.get(jobId)?.finished;
  }
}

/**
 * `[experiment_profile] resume_policy` (default `catch-up`). An unknown value resumes nothing: the
 * runs stay journaled for `pio profile resume`, rather than guessing what the user meant.
 */
export function resumePolicyFromConfig(config: { get(section: string, key: string): string | null | undefined }): MissedActionPolicy | { invalid: string } {
  const raw = (config.get("experiment_profile", "resume_policy") ?? "catch-up").trim();
  return (RESUME_POLICIES as readonly string[]).includes(raw) ? (raw as MissedActionPolicy) : { invalid: raw };
}

/** What `pio serve` does on start-up: resume interrupted runs under the configured policy, saying what it did. */
export async function resumeOnStartup(
  runner: InProcessProfileRunner,
  config: { get(section: string, key: string): string | null | undefined },
  log: (line: string) => void,
): Promise<ResumeDecision[]> {
  const policy = resumePolicyFromConfig(config);
  if (typeof policy !== "string") {
    log(`Not resuming interrupted profile runs: [experiment_profile] resume_policy=${policy.invalid} is not one of ${RESUME_POLICIES.join(", ")}.`);
    return [];
  }
  const decisions = await runner.resumeInterrupted(policy);
  if (decisions.length === 0) log("No interrupted profile runs to resume.");
  return decisions;
}
