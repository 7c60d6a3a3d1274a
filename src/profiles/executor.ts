/**
 * Runs a validated profile against the cluster (profiles spec §1.2 steps 5–12, §6–§12).
 *
 * Shape: a single scheduler loop pops due tasks in (due time, insertion) order and hands them, in
 * that order, to per-unit FIFO queues (`unit-queues.ts`) where the work happens: the prologue
 * (assignment check, `if`), the log line and the request. Counting (`action_count`) happens at
 * hand-off, so numbers follow the original's order even when units answer at different speeds.
 *
 * Compatibility: log texts, request bodies, retry and error messages, `when`/`repeat` semantics and
 * the early-stop kill follow the original. Deliberate differences (see docs/COMPATIBILITY.md):
 * - units are served concurrently (one slow unit does not hold the others back);
 * - `led_intensity` + `resume` is skipped with a warning and `when` works, instead of crashing;
 * - a `when` is re-checked as soon as an MQTT value it read changes (plus the original's 15–25 s
 *   re-check as a fallback);
 * - common actions use one active-worker list fetched at start (the original fetches the same list
 *   once per action while scheduling);
 * - every task is journaled, so a run can be resumed after a crash (`journal.ts`).
 */
import type { Logger } from "../jobs/logger";
import type { Clock } from "../util/clock";
import { formatMillisTimestamp, PyInt } from "../util/python-format";
import {
  type ClusterClient,
  ClusterRequestError,
  type StartJobBody,
} from "./cluster-client";
import {
  type EvaluationContext,
  ExpressionError,
  evaluateBoolExpression,
  evaluateOptions,
  type LookupPort,
  ParseMemo,
  type PrecedenceModel,
  type PyValue,
  pyRepr,
  pyStr,
  renderLogMessage,
} from "./expressions";
import { NullJournal, type RunJournal, type TaskRecord, type TaskStatus } from "./journal";
import { missingPlugins, missingPluginsText } from "./plugin-check";
import { preparseProfileExpressions } from "./prepare-expressions";
import { type QueuedTask, sleepOn, TaskQueue, WakeSignal, waitForDueOrWake } from "./scheduler";
import { hoursToSeconds, secondsToHours, timeToSeconds } from "./time";
import type { Action, BasicAction, Job, Profile, RepeatAction, WhenAction } from "./types";
import { UnitQueues } from "./unit-queues";

/** A LookupPort that can also say when a value it serves changes (the shared MQTT cache does). */
export interface WatchableLookups extends LookupPort {
  watch?(listener: (unit: string, job: string, setting: string) => void): () => void;
}

export type MissedActionPolicy = "catch-up" | "skip" | "abort";

export interface ExecutorOptions {
  profile: Profile;
  profileFilename: string;
  experiment: string;
  /** `experiment_profile/<job_id>`: the JOB_SOURCE of every job the run starts, and the log task. */
  jobKey: string;
  cluster: ClusterClient;
  clock: Clock;
  logger: Logger;
  dryRun?: boolean;
  /** The original's test mode (§14): every unit counts as assigned and active; TESTING=1 in start envs. */
  testing?: boolean;
  lookups?: WatchableLookups;
  journal?: RunJournal;
  random?: () => number;
  precedence?: PrecedenceModel;
  /** Installed plugins, name → version (§12). */
  installedPlugins?: Readonly<Record<string, string>>;
  /** Re-check unmet `when`s every 15–25 s (the original's polling). Off for rehearsals with no live data. */
  pollWhens?: boolean;
  /** End the run (outcome `horizon`) instead of running tasks due after this time. */
  untilMs?: number;
  /** Called with each new action count (the profile job publishes it). */
  onActionCount?(n: number): void;
  /** Delay between start retries (the original sleeps 0.5 s). */
  startRetryDelayMs?: number;
}

export interface RunOutcome {
  status: "finished" | "stopped" | "horizon" | "aborted" | "abandoned";
  actionCount: number;
  /** Scheduling entries not started when the run ended early. */
  notStarted: number;
  /** `when` actions still waiting for their condition when the run ended. */
  waitingWhens: number;
}

export interface Progress {
  elapsedMs: number;
  actionCount: number;
  pending: number;
  done: number;
  next?: { dueMs: number; label: string };
}

interface RepeatState {
  loops: number;
  first: boolean;
}

/** One unit of scheduled work: an action for one unit, with where it came from. */
interface Task {
  key: string;
  group: string;
  unit: string;
  job: string;
  source: string;
  path: number[];
  state: RepeatState | null;
  /** Set once the journal has it as `dispatched` (an update with several options sends several requests). */
  sent?: boolean;
  /** The journal has it as `armed` (on disk): marking it `dispatched` needs no fsync. */
  armed?: boolean;
}

export class PluginsMissingError extends Error {
  override readonly name = "PluginsMissingError";
}

const LED_JOB = "led_intensity";

/**
 * How long before actions fall due the scheduler arms them in the journal (one fsync for all the
 * actions of an instant, taken off the hot path; see journal.ts). Longer than an fsync on a busy
 * SD card, short enough that a power cut in the window loses little.
 */
export const ARM_AHEAD_MS = 50;

/** Seconds of an action's start offset: `t` wins over `hours_elapsed` (spec §2.4). */
export function actionOffsetSeconds(a: Action): number {
  if (a.t !== null) return timeToSeconds(a.t);
  if (a.hours_elapsed !== null) return hoursToSeconds(a.hours_elapsed);
  return 0;
}

export function repeatEverySeconds(r: RepeatAction): number {
  if (r.repeat_every_hours !== null) return hoursToSeconds(r.repeat_every_hours);
  return r.every === null ? 0 : timeToSeconds(r.every);
}

export function repeatMaxSeconds(r: RepeatAction): number | null {
  if (r.max_hours !== null) return hoursToSeconds(r.max_hours);
  return r.max_time === null ? null : timeToSeconds(r.max_time);
}

/**
 * The `led_intensity` rewrite (spec §7.8): updates become starts with the same options, pause and
 * stop become "all channels 0". Returns null for `resume`, which has no meaning for a one-shot
 * action (the original crashes there; we skip it with a warning).
 */
export function rewriteForLed(a: Action): Action | null {
  const base = { t: a.t, hours_elapsed: a.hours_elapsed, if: a.if };
  switch (a.type) {
    case "update":
      return { ...base, type: "start", options: a.options, args: [], config_overrides: {} };
    case "pause":
    case "stop":
      return {
        ...base,
        type: "start",
        options: { A: new PyInt(0), B: new PyInt(0), C: new PyInt(0), D: new PyInt(0) },
        args: [],
        config_overrides: {},
      };
    case "resume":
      return null;
    default:
      return a;
  }
}

/** How `if`/`while` print in the original's messages (`{action.if_}` / `repr()`). */
function asWritten(v: boolean | string): string {
  return typeof v === "boolean" ? (v ? "True" : "False") : v;
}

function reprOf(v: boolean | string): string {
  return typeof v === "boolean" ? (v ? "True" : "False") : pyRepr(v);
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function jobsOf(profile: Profile, source: string): Record<string, Job> {
  return source === "common" ? profile.common.jobs : (profile.pioreactors[source]?.jobs ?? {});
}

/** The action a task refers to (before the led rewrite). */
export function actionAt(profile: Profile, source: string, job: string, path: readonly number[]): Action {
  let list: Action[] = jobsOf(profile, source)[job]?.actions ?? [];
  let action: Action | undefined;
  for (const i of path) {
    action = list[i];
    if (!action) break;
    list = action.type === "when" || action.type === "repeat" ? action.actions : [];
  }
  if (!action) throw new Error(`No action at ${source}/${job}/${path.join(".")}`);
  return action;
}

export class ProfileExecutor {
  private readonly queue = new TaskQueue<Task>();
  private readonly wake = new WakeSignal();
  private readonly units: UnitQueues;
  private readonly journal: RunJournal;
  private readonly random: () => number;
  private actionCount = 0;
  private doneCount = 0;
  private stopRequested = false;
  private abandoned = false;
  private startMs = 0;
  /** `when` tasks waiting for their condition, with the lookups they read. */
  private readonly waitingWhens = new Map<string, { queued: QueuedTask<Task>; reads: Set<string> }>();
  private unwatch: (() => void) | undefined;
  /** The profile's expressions parsed once for the whole run. */
  private readonly parseMemo = new ParseMemo();
  /** Time fields of the profile's actions in seconds, parsed once: a repeat reads its own and its children's every cycle. */
  private readonly offsetSeconds = new WeakMap<Action, number>();
  private readonly repeatSeconds = new WeakMap<RepeatAction, { every: number; max: number | null }>();

  constructor(private readonly o: ExecutorOptions) {
    this.journal = o.journal ?? new NullJournal();
    this.random = o.random ?? Math.random;
    this.units = new UnitQueues(
      () => this.wake.fire(),
      (unit, err) => this.o.logger.error(`Error in action: ${errorText(err)} (on ${unit})`),
    );
    // Before the run's clock starts: the first instant then finds every expression parsed.
    preparseProfileExpressions(o.profile, this.parseMemo, o.precedence ?? "python");
  }

  get log(): Logger {
    return this.o.logger;
  }

  /** Ask the run to end early (SIGINT, `$state/set disconnected`, the UI's Stop). */
  requestStop(): void {
    this.stopRequested = true;
    this.wake.fire();
  }

  /**
   * Drop the run on the floor as a crash would: the loop ends at once, nothing is logged, nothing
   * is stopped, the journal keeps the run open. For crash tests, and for handing a run over to
   * another process that will `resume` it.
   */
  abandon(): void {
    this.abandoned = true;
    this.wake.fire();
  }

  /**
   * True while the run waits for its next due time (whose timer is set) or a wake, with nothing
   * of its own running: until then it can only act from a timer of its clock or a wake. A
   * simulation that runs units in other threads lets them run on only while this holds.
   */
  get parked(): boolean {
    return this.wake.awaited && this.units.idle;
  }

  progress(): Progress {
    const next = this.queue.peek();
    return {
      elapsedMs: this.o.clock.now() - this.startMs,
      actionCount: this.actionCount,
      pending: this.queue.size + this.units.pendingCount,
      done: this.doneCount,
      ...(next ? { next: { dueMs: next.dueMs, label: this.describeTask(next.payload) } } : {}),
    };
  }

  private describeTask(t: Task): string {
    const a = actionAt(this.o.profile, t.source, t.job, t.path);
    return `${a.type} ${t.job} on ${t.unit}`;
  }

  /** Steps 5–12 of §1.2 for a fresh run. */
  async run(): Promise<RunOutcome> {
    const { profile, logger } = this.o;
    logger.notice(
      `Executing ${this.o.dryRun ? "DRY-RUN of " : ""}profile ${profile.experiment_profile_name}, sourced from ${this.o.profileFilename}.`,
    );
    this.checkPlugins();
    this.startMs = this.o.clock.now();
    await this.scheduleAll();
    logger.debug("Starting execution of actions.");
    return this.loop();
  }

  /**
   * Continue a journaled run after a crash. `records` are the run's tasks; `startMs` and
   * `actionCount` come from the run record.
   */
  async resume(records: TaskRecord[], startMs: number, actionCount: number, policy: MissedActionPolicy): Promise<RunOutcome> {
    const { logger, clock } = this.o;
    this.startMs = startMs;
    this.actionCount = actionCount;
    const now = clock.now();
    const pending = records.filter((r) => r.status === "pending");
    const inFlight = records.filter((r) => r.status === "dispatched");
    const missed = pending.filter((r) => r.dueMs < now);
    const lastDone = Math.max(startMs, ...records.filter((r) => r.status !== "pending").map((r) => r.dueMs));
    logger.notice(
      `Resuming profile ${this.o.profile.experiment_profile_name} (run ${this.journal.runId}) after a gap of ` +
        `${formatHours(now - lastDone)}: ${pending.length} task(s) pending, ${missed.length} missed, policy ${policy}.`,
    );
    for (const r of inFlight) {
      logger.warning(`Not repeating ${this.describeRecord(r)}: it was being sent when the run stopped, and may have reached ${r.unit}.`);
    }
    if (missed.length > 0 && policy === "abort") {
      for (const r of missed) logger.error(`Missed ${this.describeRecord(r)} (due ${formatMillisTimestamp(r.dueMs)}).`);
      logger.error(`Aborting resume: ${missed.length} action(s) missed their time.`);
      this.journal.finish("aborted");
      return { status: "aborted", actionCount, notStarted: pending.length, waitingWhens: 0 };
    }
    for (const r of pending) {
      const action = actionAt(this.o.profile, r.source, r.job, r.path);
      const isControl = action.type === "when" || action.type === "repeat";
      if (r.dueMs < now && policy === "skip" && !isControl) {
        logger.info(`Skipping missed ${this.describeRecord(r)} (was due ${formatMillisTimestamp(r.dueMs)}).`);
        this.journal.setStatus(r.key, "skipped");
        continue;
      }
      if (r.dueMs < now) logger.info(`Catching up ${this.describeRecord(r)} (was due ${formatMillisTimestamp(r.dueMs)}).`);
      const task: Task = {
        key: r.key,
        group: r.group,
        unit: r.unit,
        job: r.job,
        source: r.source,
        path: r.path,
        state: (r.state as RepeatState | null) ?? null,
      };
      this.queue.push(r.dueMs, task);
    }
    logger.debug("Starting execution of actions.");
    return this.loop();
  }

  private describeRecord(r: TaskRecord): string {
    const a = actionAt(this.o.profile, r.source, r.job, r.path);
    return `\`${a.type}\` of ${r.job} on ${r.unit} [${r.key}]`;
  }

  private checkPlugins(): void {
    const required = this.o.profile.plugins;
    if (required.length === 0) return;
    const missing = missingPlugins(required, this.o.installedPlugins ?? {});
    if (missing.length === 0) return;
    const text = missingPluginsText(missing);
    this.o.logger.debug(text);
    this.o.logger.error(text);
    throw new PluginsMissingError(text);
  }

  /** §6.2 then §6.3: common entries for the active workers, then each unit's block (label first). */
  private async scheduleAll(): Promise<void> {
    const { profile, cluster, experiment, logger } = this.o;
    const fresh: Task[] = [];
    const dues: number[] = [];
    const add = (t: Task, due: number) => {
      fresh.push(t);
      dues.push(due);
    };
    const commonJobs = Object.entries(profile.common.jobs);
    if (commonJobs.length > 0) {
      const workers = await cluster.activeWorkersInExperiment(experiment);
      for (const [job, spec] of commonJobs) {
        spec.actions.forEach((a, i) => {
          const group = `common/${job}/${i}`;
          const due = this.startMs + actionOffsetSeconds(a) * 1000;
          for (const unit of workers) add({ key: `${group}@${unit}`, group, unit, job, source: "common", path: [i], state: null }, due);
        });
      }
    }
    for (const [unit, block] of Object.entries(profile.pioreactors)) {
      if (!this.o.testing) {
        let assigned: string | null = null;
        try {
          assigned = await cluster.assignedExperiment(unit);
        } catch {
          assigned = null;
        }
        if (assigned !== experiment) {
          logger.warning(
            `There exists profile actions for ${unit}, but it's not assigned to experiment ${experiment}. Skipping scheduling actions.`,
          );
          continue;
        }
      }
      if (block.label !== null) {
        // Failures are ignored, as in the original; sent even in dry run.
        await cluster.setUnitLabel(experiment, unit, block.label).catch(() => undefined);
      }
      for (const [job, spec] of Object.entries(block.jobs)) {
        spec.actions.forEach((a, i) => {
          const group = `${unit}/${job}/${i}`;
          add({ key: `${group}@${unit}`, group, unit, job, source: unit, path: [i], state: null }, this.startMs + actionOffsetSeconds(a) * 1000);
        });
      }
    }
    this.enqueue(fresh, dues);
  }

  /** Journal first (pending), then queue: a task is never in memory only. */
  private enqueue(tasks: Task[], dues: number[]): QueuedTask<Task>[] {
    // Without a journal the records would be built for nothing (a dry run builds ≈ 40,000 of them).
    if (this.o.journal) {
      this.journal.addTasks(
        tasks.map((t, i) => ({ ...t, dueMs: dues[i], status: "pending" as TaskStatus, seq: 0 })),
      );
    }
    const queued = tasks.map((t, i) => this.queue.push(dues[i], t));
    this.wake.fire();
    return queued;
  }

  private async loop(): Promise<RunOutcome> {
    const { clock } = this.o;
    if (this.o.lookups?.watch) this.unwatch = this.o.lookups.watch((u, j, s) => this.onLookupChanged(u, j, s));
    let status: RunOutcome["status"] = "finished";
    try {
      for (;;) {
        if (this.abandoned) {
          this.journal.flush();
          return { status: "abandoned", actionCount: this.actionCount, notStarted: this.queue.size, waitingWhens: 0 };
        }
        if (this.stopRequested) {
          status = "stopped";
          break;
        }
        const next = this.queue.peek();
        // Unmet `when`s keep a run alive only while a live data source can still change their answer.
        const whensCanFire = this.waitingWhens.size > 0 && Boolean(this.o.lookups?.watch);
        if (!next && this.units.idle && !whensCanFire) break;
        if (next && this.o.untilMs !== undefined && next.dueMs > this.o.untilMs && this.units.idle) {
          status = "horizon";
          break;
        }
        if (next && next.dueMs <= clock.now()) {
          // Due without having been armed (scheduled at short notice, or the loop was busy): arm its whole instant at once.
          if (this.needsArming(next.payload)) this.armAhead(clock.now());
          this.queue.pop();
          this.dispatch(next.payload);
          continue;
        }
        const armAt = next && this.needsArming(next.payload) ? next.dueMs - ARM_AHEAD_MS : undefined;
        if (armAt !== undefined && armAt <= clock.now()) {
          this.armAhead(clock.now());
          continue;
        }
        await waitForDueOrWake(clock, armAt ?? next?.dueMs, this.wake, () => !this.units.idle);
      }
      // Let work already handed to units finish, as the original finishes the callback in progress.
      while (!this.units.idle) await waitForDueOrWake(clock, undefined, this.wake, () => !this.units.idle);
    } finally {
      this.unwatch?.();
    }
    return this.finish(status);
  }

  private async finish(status: RunOutcome["status"]): Promise<RunOutcome> {
    const { logger, profile, clock } = this.o;
    const notStarted = new Set(this.queue.snapshot().map((t) => t.payload.group)).size;
    const outcome: RunOutcome = { status, actionCount: this.actionCount, notStarted, waitingWhens: this.waitingWhens.size };
    if (status === "stopped") {
      logger.notice(
        `Stopping profile \`${profile.experiment_profile_name}\` early: ${this.actionCount} actions(s) completed, ${notStarted} action(s) not started. Stopping all started jobs.`,
      );
      await this.stopStartedJobs();
      this.journal.finish("stopped");
      return outcome;
    }
    if (status === "horizon") {
      logger.notice(`Rehearsal ended at its time horizon with ${notStarted} action(s) still scheduled.`);
      this.journal.finish("finished");
      return outcome;
    }
    // The original sleeps 0.5 s before its last line so the last requests' effects are published.
    await sleepOn(clock, 500);
    if (outcome.waitingWhens > 0 && this.o.pollWhens === false) {
      logger.notice(`${outcome.waitingWhens} \`when\` action(s) never saw their condition become true.`);
    }
    logger.info(`Finished executing ${this.o.dryRun ? "DRY-RUN of " : ""}profile ${profile.experiment_profile_name}.`);
    this.journal.finish("finished");
    return outcome;
  }

  /** §11 step 2: stop every job this run started, on the active workers of the experiment now. */
  private async stopStartedJobs(): Promise<void> {
    const { cluster, experiment, jobKey, logger } = this.o;
    let workers: string[] = [];
    try {
      workers = await cluster.activeWorkersInExperiment(experiment);
    } catch (err) {
      logger.debug(`Could not list workers to stop started jobs: ${errorText(err)}`);
    }
    await Promise.all(
      workers.map((w) =>
        cluster.stopJobsFromSource(w, experiment, jobKey).catch((err) => logger.debug(`Failed to stop jobs on ${w}: ${errorText(err)}`)),
      ),
    );
  }

  private needsArming(task: Task): boolean {
    if (!this.journal.durable || task.armed || this.units.busy(task.unit)) return false;
    const type = actionAt(this.o.profile, task.source, task.job, task.path).type;
    return type !== "when" && type !== "repeat";
  }

  /**
   * Arm, in one durable commit, every basic action due within ARM_AHEAD_MS of `now` whose unit is
   * free. An action that will wait behind a slow unit is not armed: after a power cut it would
   * count as possibly sent for as long as it waited; it gets its own durable mark when it is sent.
   */
  private armAhead(now: number): void {
    if (!this.journal.durable) return;
    const due = this.queue.dueBy(now + ARM_AHEAD_MS).filter((q) => this.needsArming(q.payload));
    if (due.length === 0) return;
    this.journal.arm(due.map((q) => q.payload.key));
    for (const q of due) q.payload.armed = true;
  }

  private dispatch(task: Task): void {
    const action = actionAt(this.o.profile, task.source, task.job, task.path);
    if (action.type === "when") {
      this.waitingWhens.delete(task.key);
      this.units.enqueue(task.unit, () => this.runWhen(task, action));
      return;
    }
    if (action.type === "repeat") {
      this.units.enqueue(task.unit, () => this.runRepeat(task, action));
      return;
    }
    const n = ++this.actionCount;
    this.journal.setActionCount(n);
    this.o.onActionCount?.(n);
    this.units.enqueue(task.unit, () => this.runBasic(task, action, n));
  }

  private context(unit: string, job: string, reads?: Set<string>): EvaluationContext {
    const elapsedHours = secondsToHours((this.o.clock.now() - this.startMs) / 1000);
    const env: Record<string, PyValue> = {
      ...this.o.profile.inputs,
      unit,
      experiment: this.o.experiment,
      job_name: job,
      hours_elapsed: elapsedHours,
      action_count: new PyInt(this.actionCount),
    };
    const lookups = this.o.lookups;
    return {
      env,
      random: this.random,
      memo: this.parseMemo,
      ...(this.o.precedence ? { precedence: this.o.precedence } : {}),
      ...(lookups
        ? {
            lookups: reads
              ? {
                  get: (u, j, s) => {
                    reads.add(`${u}\u0000${j}\u0000${s}`);
                    return lookups.get(u, j, s);
                  },
                  ...(lookups.experimentOf ? { experimentOf: (u: string) => lookups.experimentOf!(u) } : {}),
                }
              : lookups,
          }
        : {}),
    };
  }

  /** The unit's current experiment (§7.1 step 2); in test mode every unit is in ours. */
  private async assignedExperiment(unit: string): Promise<string> {
    if (this.o.testing) return this.o.experiment;
    const exp = await this.o.cluster.assignedExperiment(unit);
    if (exp === null) throw new Error(`Worker ${unit} is not assigned to an experiment.`);
    return exp;
  }

  /** At most once: the journal has the task as `dispatched`, on disk, before its first request leaves. */
  private async beforeSend(task: Task): Promise<void> {
    if (task.sent) return;
    task.sent = true;
    await this.journal.markDispatched(task.key, !task.armed);
  }

  private settle(task: Task, status: TaskStatus): void {
    this.journal.setStatus(task.key, status);
    this.doneCount++;
  }

  private async guarded(task: Task, work: () => Promise<TaskStatus>): Promise<void> {
    let status: TaskStatus;
    try {
      status = await work();
    } catch (err) {
      const text = errorText(err);
      this.o.logger.error(`Error in action: ${text}`);
      this.o.logger.debug(`Error in action: ${text}`);
      status = "failed";
    }
    if (status !== "pending") this.settle(task, status);
  }

  private runBasic(task: Task, written: BasicAction, n: number): Promise<void> {
    return this.guarded(task, async () => {
      const { logger, experiment } = this.o;
      const { unit, job } = task;
      const action = job === LED_JOB ? rewriteForLed(written) : written;
      if ((await this.assignedExperiment(unit)) !== experiment) {
        logger.debug(`Skipping ${written.type} action on ${unit} due to not being assigned to experiment ${experiment}.`);
        return "skipped";
      }
      if (action === null) {
        logger.warning(`${n}. \`resume\` has no effect on ${LED_JOB} (a one-shot action); skipping it on ${unit}.`);
        return "skipped";
      }
      const ctx = this.context(unit, job);
      if (!(await evaluateBoolExpression(action.if, ctx))) {
        logger.debug(`Action's \`if\` condition, \`${asWritten(action.if)}\`, evaluated False. Skipping action.`);
        return "skipped";
      }
      switch (action.type) {
        case "start":
          return this.start(task, action.options, action.args, action.config_overrides, ctx, n);
        case "pause":
        case "resume":
          return this.changeState(task, action.type, n);
        case "stop":
          return this.stop(task, n);
        case "update":
          return this.update(task, action.options, ctx, n);
        case "log":
          return this.postLog(task, action.options.message, action.options.level, ctx, n);
        default:
          return "skipped";
      }
    });
  }

  private async start(
    task: Task,
    rawOptions: Record<string, PyValue>,
    args: string[],
    rawOverrides: Record<string, PyValue>,
    ctx: EvaluationContext,
    n: number,
  ): Promise<TaskStatus> {
    const { logger, cluster } = this.o;
    const { unit, job } = task;
    const options = await evaluateOptions(rawOptions, ctx);
    const overrides = await evaluateOptions(rawOverrides, ctx);
    if (this.o.dryRun) {
      logger.info(
        `${n}. Dry-run: Starting ${job} on ${unit} with options ${pyRepr(options)} and args ${pyRepr(args)}, and overrides ${pyRepr(overrides)}.`,
      );
      return "done";
    }
    logger.debug(`${n}. Starting ${job} on ${unit} with options ${pyRepr(options)}, args ${pyRepr(args)}, and overrides ${pyRepr(overrides)}.`);
    const address = cluster.addressOf(unit);
    const attempts = 3;
    for (let attempt = 1; ; attempt++) {
      const body: StartJobBody = {
        options,
        env: await this.startEnv(unit),
        args,
        config_overrides: Object.entries(overrides).map(([k, v]) => [`${job}.config`, k, pyStr(v)]),
      };
      await this.beforeSend(task);
      try {
        const result = await cluster.startJob(unit, job, body);
        if (result.kind === "unreadable") {
          throw new Error(
            `Submitted start command for \`${job}\` to ${unit} at ${address}, but couldn't read the task result. The job may still have started.`,
          );
        }
        if (result.kind === "malformed") throw new ExpressionError("KeyError", "ok");
        if (result.kind === "result" && !result.ok) logger.error(`Failed to start \`${job}\` on ${unit}. ${result.error ?? ""}`);
        return "done";
      } catch (err) {
        if (!(err instanceof ClusterRequestError) || err.kind !== "network") throw err;
        if (attempt >= attempts) {
          throw new Error(`Unable to submit start command for \`${job}\` to ${unit} at ${address} after ${attempts} attempts. Is it online?`);
        }
        logger.debug(`Unable to submit start command for \`${job}\` to ${unit} at ${address}. Retrying (${attempt + 1}/${attempts}).`);
        await this.o.clock.sleep(this.o.startRetryDelayMs ?? 500);
      }
    }
  }

  /** The env sent with a start (§7.2 step 4), in the original's key order. */
  private async startEnv(unit: string): Promise<Record<string, string>> {
    const env: Record<string, string> = {
      JOB_SOURCE: this.o.jobKey,
      EXPERIMENT: this.o.experiment,
      HOSTNAME: unit,
      TESTING: this.o.testing ? "1" : "0",
    };
    let info: Awaited<ReturnType<ClusterClient["workerInfo"]>> = null;
    try {
      info = await this.o.cluster.workerInfo(unit);
    } catch {
      info = null;
    }
    if (info) {
      if (info.modelName) env.MODEL_NAME = info.modelName;
      if (info.modelVersion) env.MODEL_VERSION = info.modelVersion;
      env.ACTIVE = info.isActive ? "1" : "0";
    }
    return env;
  }

  private async isRunning(unit: string, job: string): Promise<boolean> {
    if (this.o.testing) return true;
    return this.o.cluster.isJobRunning(unit, job);
  }

  private async changeState(task: Task, kind: "pause" | "resume", n: number): Promise<TaskStatus> {
    const { logger, cluster, experiment } = this.o;
    const { unit, job } = task;
    const verb = kind === "pause" ? "Pausing" : "Resuming";
    if (this.o.dryRun) {
      logger.info(`${n}. Dry-run: ${verb} ${job} on ${unit}.`);
      return "done";
    }
    logger.debug(`${n}. ${verb} ${job} on ${unit}.`);
    if (!(await this.isRunning(unit, job))) {
      logger.debug(`Job ${job} not running on ${unit}.`);
      return "skipped";
    }
    await this.beforeSend(task);
    await cluster.updateJobSettings(unit, experiment, job, { $state: kind === "pause" ? "sleeping" : "ready" });
    return "done";
  }

  private async stop(task: Task, n: number): Promise<TaskStatus> {
    const { logger, cluster, experiment } = this.o;
    const { unit, job } = task;
    if (this.o.dryRun) {
      logger.info(`${n}. Dry-run: Stopping ${job} on ${unit}.`);
      return "done";
    }
    logger.debug(`${n}. Stopping ${job} on ${unit}.`);
    await this.beforeSend(task);
    await cluster.stopJob(unit, experiment, job);
    return "done";
  }

  private async update(task: Task, rawOptions: Record<string, PyValue>, ctx: EvaluationContext, n: number): Promise<TaskStatus> {
    const { logger, cluster, experiment } = this.o;
    const { unit, job } = task;
    if (this.o.dryRun) {
      for (const [k, v] of Object.entries(rawOptions)) logger.info(`${n}. Dry-run: Updating ${k} to ${pyStr(v)} in ${job} on ${unit}.`);
      return "done";
    }
    const options = await evaluateOptions(rawOptions, ctx);
    let sent = false;
    for (const [k, v] of Object.entries(options)) {
      logger.debug(`${n}. Updating ${k} to ${pyStr(v)} in ${job} on ${unit}.`);
      if (!(await this.isRunning(unit, job))) {
        logger.debug(`Job ${job} not running on ${unit}.`);
        continue;
      }
      await this.beforeSend(task);
      await cluster.updateJobSettings(unit, experiment, job, { [k]: v });
      sent = true;
    }
    return sent || Object.keys(options).length === 0 ? "done" : "skipped";
  }

  private async postLog(task: Task, message: string, level: string, ctx: EvaluationContext, n: number): Promise<TaskStatus> {
    const { logger, cluster, experiment, jobKey, clock } = this.o;
    // Rendered twice, as the original does (once for the request, once for its own log line).
    const forRequest = await renderLogMessage(message, ctx);
    await this.beforeSend(task);
    await cluster.postUnitLog(task.unit, experiment, {
      message: forRequest,
      timestamp: formatMillisTimestamp(clock.now()),
      level: level.toUpperCase(),
      source: jobKey,
      task: jobKey,
      source_: "app",
    });
    logger.debug(`${n}. Logging message \`${await renderLogMessage(message, ctx)}\``);
    return "done";
  }

  /** §8: check, then either schedule the children relative to now or wait and check again. */
  private runWhen(task: Task, when: WhenAction): Promise<void> {
    return this.guarded(task, async () => {
      const { logger, experiment } = this.o;
      if ((await this.assignedExperiment(task.unit)) !== experiment) return "skipped";
      const reads = new Set<string>();
      const ctx = this.context(task.unit, task.job, reads);
      if (!(await evaluateBoolExpression(when.if, ctx))) {
        logger.debug(`Action's \`if\` condition, \`${asWritten(when.if)}\`, evaluated False. Skipping action.`);
        return "skipped";
      }
      const condition = when.wait_until !== "" ? when.wait_until : when.condition;
      let met: boolean;
      try {
        met = await evaluateBoolExpression(condition, ctx);
      } catch (err) {
        if (!(err instanceof ExpressionError) || err.pyType !== "MQTTValueError") throw err;
        met = false;
        if (this.random() < 1 / 45) {
          logger.warning(
            `Data not found in MQTT for condition \`${condition}\`. Double check the fields and that the required jobs are running`,
          );
        }
      }
      const now = this.o.clock.now();
      if (met) {
        const children = when.actions.map((_, j) => this.child(task, `${task.key}/${j}`, j));
        this.journal.atomically(() => {
          this.enqueue(
            children,
            when.actions.map((a) => now + this.offsetOf(a) * 1000),
          );
          this.journal.setStatus(task.key, "done");
        });
        this.doneCount++;
        return "pending"; // already settled inside the transaction
      }
      const pollMs = this.o.pollWhens === false ? undefined : 15_000 + 10_000 * this.random();
      const due = pollMs === undefined ? Number.POSITIVE_INFINITY : now + pollMs;
      this.journal.updateTask(task.key, Number.isFinite(due) ? due : Number.MAX_SAFE_INTEGER, null);
      if (pollMs !== undefined) {
        const queued = this.queue.push(due, task);
        this.waitingWhens.set(task.key, { queued, reads });
        this.wake.fire();
      } else {
        this.waitingWhens.set(task.key, { queued: { dueMs: due, seq: -1, payload: task, cancelled: true }, reads });
      }
      return "pending";
    });
  }

  /** A value a waiting `when` read has changed: check it now instead of at its next poll. */
  private onLookupChanged(unit: string, job: string, setting: string): void {
    const id = `${unit}\u0000${job}\u0000${setting}`;
    const now = this.o.clock.now();
    for (const [key, w] of this.waitingWhens) {
      if (!w.reads.has(id)) continue;
      if (!w.queued.cancelled && w.queued.dueMs <= now) continue;
      this.queue.cancel(w.queued);
      const queued = this.queue.push(now, w.queued.payload);
      this.waitingWhens.set(key, { queued, reads: w.reads });
      this.journal.updateTask(key, now, null);
    }
    this.wake.fire();
  }

  private offsetOf(a: Action): number {
    let seconds = this.offsetSeconds.get(a);
    if (seconds === undefined) {
      seconds = actionOffsetSeconds(a);
      this.offsetSeconds.set(a, seconds);
    }
    return seconds;
  }

  private repeatTimes(r: RepeatAction): { every: number; max: number | null } {
    let times = this.repeatSeconds.get(r);
    if (times === undefined) {
      times = { every: repeatEverySeconds(r), max: repeatMaxSeconds(r) };
      this.repeatSeconds.set(r, times);
    }
    return times;
  }

  private child(parent: Task, key: string, index: number, state: RepeatState | null = null): Task {
    return { key, group: key, unit: parent.unit, job: parent.job, source: parent.source, path: [...parent.path, index], state };
  }

  /** §9: one iteration, then re-schedule after `every` unless `max_time` is reached. */
  private runRepeat(task: Task, repeat: RepeatAction): Promise<void> {
    return this.guarded(task, async () => {
      const { logger, experiment } = this.o;
      const state: RepeatState = task.state ?? { loops: 0, first: true };
      if ((await this.assignedExperiment(task.unit)) !== experiment) {
        logger.debug(`Skipping repeat action on ${task.unit} due to not being assigned to experiment ${experiment}.`);
        return "skipped";
      }
      const ctx = this.context(task.unit, task.job);
      const go = (!state.first || (await evaluateBoolExpression(repeat.if, ctx))) && (await evaluateBoolExpression(repeat.while, ctx));
      if (!go) {
        logger.debug(
          `Action's \`if\` or \`while\` condition, \`if_=${reprOf(repeat.if)}\` or \`while_=${reprOf(repeat.while)}\`, evaluated False. Skipping.`,
        );
        return "skipped";
      }
      const { every, max: maxTime } = this.repeatTimes(repeat);
      const now = this.o.clock.now();
      const children: Task[] = [];
      const dues: number[] = [];
      repeat.actions.forEach((child, j) => {
        const offset = this.offsetOf(child);
        if (offset > every) {
          const name = child.type === "log" ? `Log(message=${child.options.message})` : child.type;
          logger.warning(`Action ${name} start time is greater than the Repeat's cycle time, so it can't ever run. Skipping.`);
          return;
        }
        children.push(this.child(task, `${task.key}#${state.loops}/${j}`, j));
        dues.push(now + offset * 1000);
      });
      const nextState: RepeatState = { loops: state.loops + 1, first: false };
      const again = maxTime === null || nextState.loops * every < maxTime;
      const nextDue = now + every * 1000;
      this.journal.atomically(() => {
        this.enqueue(children, dues);
        if (again) this.journal.updateTask(task.key, nextDue, nextState);
        else this.journal.updateTask(task.key, now, nextState, "done");
      });
      if (again) {
        this.queue.push(nextDue, { ...task, state: nextState });
        this.wake.fire();
        return "pending";
      }
      logger.debug("Exiting repeat loop as max time exceeded.");
      this.doneCount++;
      return "pending";
    });
  }
}

function formatHours(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 1 ? `${h.toFixed(2)} h` : `${(ms / 60_000).toFixed(1)} min`;
}
