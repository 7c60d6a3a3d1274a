/**
 * A simulated cluster whose units run in worker threads ("shards"), one per core, while this
 * thread keeps the profile executor and the leader: its database, its streamer and its bus.
 *
 * Time: every shard has its own clock. This thread's clock leads, and before it fires a timer at
 * time T that may act on a unit (anything but housekeeping) every shard is brought to T
 * (`advance`), so the executor always acts on units that are exactly where a single-thread run
 * would have them. Between two such timers the shards run freely, in parallel, in windows of
 * WINDOW_MS of simulated time (up to PIPELINE_DEPTH of them asked for at once while the profile is
 * parked); what they publish for the database comes back with the answer, stamped with the
 * simulated time it was delivered at, and is handed to the streamer as if it had arrived then
 * (while the shards already run the next windows).
 * The only thing that can come later than in a single-thread run is a `when` noticing a change: it
 * is told at the end of the window the change happened in, so windows are short (WHEN_WINDOW_MS)
 * while a `when` waits. docs/JOB-RUNTIME.md draws the whole exchange.
 */
import os from "node:os";
import type { ClusterClient, StartJobBody, StartJobResult, UnitLogBody, WorkerInfo } from "../../profiles/cluster-client";
import { ClusterRequestError } from "../../profiles/cluster-client";
import type { WatchableLookups } from "../../profiles/executor";
import { type PyValue, pyStr } from "../../profiles/expressions";
import { StreamingSinks } from "../../leader/streaming/sinks";
import type { IngestConnection, IngestHandler, IngestSource } from "../../leader/streaming/mqtt-ingest";
import type { PubSubClient } from "../../pubsub/types";
import type { Clock } from "../../util/clock";
import { BusLookups } from "../bus-lookups";
import { fireBatch, runUntil, type SimulationClock, settledFlag, turn } from "../clocks";
import { SimulatedCluster } from "../cluster";
import { SimulatedClusterClientBase } from "../sim-cluster-client";
import { InProcessBus } from "../in-process-bus";
import { PubSubIngestSource } from "../leader";
import type { RuntimeOptions, SimulationRuntime, UnitFinalState, UnitLiveValues } from "../runtime";
import { mergeByTime } from "./forwarding";
import type { AdvanceResult, CallResult, FinishResult, ForwardedBatch, LookupResult, UnitCallMethod } from "./protocol";
import { ShardHandle, shardWorkerFile } from "./shard-handle";

/** Simulated time the shards run ahead between two of the coordinator's timers, when nothing watches them. */
const WINDOW_MS = 60_000;
/**
 * Windows asked for at once while nothing can cut them short (the profile parked on a timer, no
 * request in flight, no `when` waiting; none ends past this thread's next timer): each shard then
 * runs through them without waiting for the other or for this thread, which stores the windows
 * as they come back.
 */
const PIPELINE_DEPTH = 16;
/** The same while a `when` waits on unit values: how late it can notice a change (the original polls every 15–25 s). */
const WHEN_WINDOW_MS = 5_000;
/** A `when` that waits re-reads its values at least every 25 s (the executor's polling): this long without a read, none waits. */
const WHEN_ACTIVE_MS = 30_000;
/** Event-loop turns this thread's work gets after its timers fire, before the shards advance. */
const SETTLE_TURNS = 5;
/** Real time between two requests for the progress line's live numbers. */
const PROGRESS_EVERY_MS = 200;

/** Worker threads worth starting for `units` units: one per core, at most one per unit; 1 means none. */
export function defaultShardCount(units: number): number {
  return Math.max(1, Math.min(units, os.availableParallelism()));
}

/** Whether this build can start shards (the compiled worker file exists). */
export function shardsAvailable(): boolean {
  return shardWorkerFile() !== undefined;
}

/** The streamer's data connection: the leader bus, plus messages the shards forward, handed over with their own arrival times. */
class ReplayingIngestSource implements IngestSource {
  private handler: IngestHandler | undefined;

  constructor(private readonly inner: IngestSource) {}

  async open(filters: readonly string[], handler: IngestHandler): Promise<IngestConnection> {
    this.handler = handler;
    const connection = await this.inner.open(filters, handler);
    return {
      close: async () => {
        this.handler = undefined;
        await connection.close();
      },
    };
  }

  replay(topic: string, payload: Buffer, receivedAtMs: number): void {
    void this.handler?.({ topic, payload, retain: false, receivedAtMs });
  }
}

export interface ShardedRuntimeOptions extends RuntimeOptions {
  clock: SimulationClock;
  shards: number;
  /** Console lines from the shards' jobs (errors) and the profile (see WatchSink). */
  log?: (line: string) => void;
}

export class ShardedRuntime implements SimulationRuntime {
  readonly units: readonly string[];
  readonly client: ShardClusterClient;
  readonly lookups: ShardLookups;
  private readonly shardOf = new Map<string, ShardHandle>();
  private latest: UnitLiveValues[] = [];
  private lastProgressAt = 0;
  /** Windows asked for and not yet taken, oldest first (see `drive`). */
  private readonly ahead: Array<{ toMs: number; results: Promise<AdvanceResult[]> }> = [];
  /** Messages from the shards (windows taken, requests answered) the streamer has yet to get, in arrival order. */
  private readonly unstored: Array<Array<[ShardHandle, ForwardedBatch]>> = [];
  private published = 0;

  private constructor(
    private readonly o: ShardedRuntimeOptions,
    private readonly bus: InProcessBus,
    private readonly leaderCluster: SimulatedCluster,
    private readonly ingest: ReplayingIngestSource,
    private readonly shards: ShardHandle[],
  ) {
    this.units = o.units;
    for (const s of shards) for (const u of s.init.units) this.shardOf.set(u, s);
    this.client = new ShardClusterClient(o.experiment, o.units, (unit, method, args) => this.call(unit, method, args));
    this.lookups = new ShardLookups(
      new BusLookups(bus, bus.connect({ clientIdBase: "experiment_profile_lookups" }), o.experiment),
      o.clock,
      (unit) => this.shardOf.has(unit),
      (unit, job, setting) => this.lookup(unit, job, setting),
    );
  }

  static async start(o: ShardedRuntimeOptions): Promise<ShardedRuntime> {
    const file = shardWorkerFile();
    if (!file) throw new Error("Simulating units in worker threads needs the compiled build (npm run build).");
    const bus = new InProcessBus();
    const connect = async (req: { clientIdBase: string }) => bus.connect(req);
    const ingest = new ReplayingIngestSource(new PubSubIngestSource(() => connect({ clientIdBase: "sim-streamer" })));
    // The leader: the database with every unit as a worker, and the streamer, but no units of its own.
    const leaderCluster = await runUntil(o.clock, SimulatedCluster.start({ ...o, localUnits: [], connect, ingest }), "starting the simulated leader", 600_000);
    const groups = Array.from({ length: Math.max(1, Math.min(o.shards, o.units.length)) }, () => [] as string[]);
    for (const [i, u] of o.units.entries()) groups[i % groups.length].push(u);
    const forwardFilters = new StreamingSinks().subscriptions();
    const shards = groups.map(
      (units, index) =>
        new ShardHandle(
          index,
          {
            kind: "pioreactor-sim-shard",
            units,
            experiment: o.experiment,
            leader: leaderCluster.leader,
            seed: o.seed,
            startMs: o.clock.now(),
            configOverrides: o.configOverrides,
            unitParams: Object.fromEntries(units.map((u) => [u, o.unitParams?.(u)])),
            initialOd: o.initialOd,
            adcOversampling: o.adcOversampling,
            appVersion: o.appVersion,
            watchLogs: o.log !== undefined,
            forwardFilters,
          },
          file,
          (line) => o.log?.(line),
        ),
    );
    const runtime = new ShardedRuntime(o, bus, leaderCluster, ingest, shards);
    try {
      const booted = await Promise.all(shards.map((s) => s.ready()));
      runtime.replay(shards.map((s, i) => [s, booted[i]]));
    } catch (e) {
      await Promise.all(shards.map((s) => s.terminate()));
      throw e;
    }
    return runtime;
  }

  get leader(): string {
    return this.leaderCluster.leader;
  }

  connectLeader(clientIdBase: string): PubSubClient {
    return this.bus.connect({ clientIdBase });
  }

  /**
   * `runUntil` for a sharded cluster: before this thread fires its timers up to T, every shard is
   * at T. No shard moves while a request has had no word back: most are answered at T, and the
   * profile's next step must happen at T too. A request that needs simulated time (a job start)
   * says so, and finishes as its shard advances; the shard stops where it finishes, since the
   * profile may send that unit its next request right then.
   */
  async drive<T>(work: Promise<T>, what: string, maxVirtualMs = Number.POSITIVE_INFINITY, parked: () => boolean = () => false): Promise<T> {
    const clock = this.o.clock;
    const done = settledFlag(work);
    const limit = clock.now() + maxVirtualMs;
    const settle = async () => {
      for (let i = 0; i < SETTLE_TURNS && !done(); i++) await turn();
    };
    for (;;) {
      await turn();
      if (done()) break;
      if (this.shards.some((s) => s.awaitingWord)) {
        await Promise.all(this.shards.map((s) => s.whenAnswered()));
        continue;
      }
      // Windows are taken one at a time unless the profile is parked on a timer of this clock
      // with no request in flight and no `when` waiting. A `when` gets short windows: what it
      // hears can change what the units do next. A request's shard stops where it finishes, and
      // the profile's next request to that unit may be due right then.
      const watched = this.lookups.readSince(clock.now() - WHEN_ACTIVE_MS);
      const window = watched ? WHEN_WINDOW_MS : WINDOW_MS;
      // This thread's housekeeping (the streamer's statistics and batched writes) never acts on a
      // unit: it fires on time here while the shards run on past it.
      if ((clock.nextDue() ?? Number.POSITIVE_INFINITY) <= clock.now()) {
        if ((await fireBatch(clock, clock.now(), done)) > 0) await settle();
        continue;
      }
      const target = Math.min(this.nextUnitTimer(), clock.now() + window, limit);
      if (this.ahead.length > 0 || this.shards.some((s) => s.nowMs < target)) {
        const depth = !watched && parked() && this.shards.every((s) => s.callsInFlight === 0) ? PIPELINE_DEPTH : 1;
        if (depth > 1 || (this.ahead.length === 0 && this.unstored.length > 0)) {
          // The shards run on while this thread stores what they sent from earlier windows.
          this.askAhead(depth, window, limit);
          if (this.unstored.length > 0) {
            this.storeUnstored();
            continue;
          }
        }
        // A change a `when` waits for gets the same turns as a timer firing here (below).
        if ((await this.takeWindow(target)) > 0) await settle();
        continue;
      }
      if ((await fireBatch(clock, target, done)) > 0) {
        // What those timers set off here (the executor finishing a step, or the whole run) gets a
        // few turns before the shards move on, as it would between two timers on one clock.
        await settle();
        continue;
      }
      if (done()) break;
      if (clock.now() >= limit) throw new Error(`${what} did not finish within ${Math.round(maxVirtualMs / 1000)} simulated seconds.`);
      clock.jumpTo(target);
    }
    return work;
  }

  live(): UnitLiveValues[] {
    return this.latest;
  }

  async finish(): Promise<Map<string, UnitFinalState>> {
    await this.lookups.close();
    for (const window of this.ahead.splice(0)) {
      const results = await window.results;
      this.unstored.push(this.shards.map((s, i) => [s, results[i].forwarded]));
    }
    this.storeUnstored();
    const results = await Promise.all(this.shards.map((s) => s.request<FinishResult>({ type: "finish" })));
    this.replay(this.shards.map((s, i) => [s, results[i].forwarded]));
    const finals = new Map<string, UnitFinalState>();
    for (const r of results) {
      this.published += r.bus.published;
      for (const [unit, state] of r.units) finals.set(unit, state);
    }
    await Promise.all(this.shards.map((s) => s.terminate()));
    // The leader's streamer writes what the shards forwarded before it stops.
    await runUntil(this.o.clock, this.leaderCluster.close(), "stopping the simulated leader", 600_000);
    return finals;
  }

  messagesPublished(): number {
    return this.published + this.bus.stats().published;
  }

  /** Stops the shards' threads without waiting for their units (after a failure). */
  async abort(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.terminate()));
  }

  /** When this thread next acts on a unit (its next timer other than housekeeping): no shard may pass it before then. */
  private nextUnitTimer(): number {
    return this.o.clock.nextDue({ skipHousekeeping: true }) ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Tops up the windows asked for to `depth`, each `window` long, none past this thread's next
   * timer or `limit`: a window that ended past a timer would have the units ahead of the profile.
   */
  private askAhead(depth: number, window: number, limit: number): void {
    const clock = this.o.clock;
    const end = Math.min(this.nextUnitTimer(), limit);
    let from = this.ahead.at(-1)?.toMs ?? clock.now();
    while (this.ahead.length < depth && from < end && this.shards.some((s) => s.nowMs < end)) {
      const toMs = Math.min(from + window, end);
      this.ahead.push({ toMs, results: this.requestAdvance(toMs) });
      from = toMs;
    }
  }

  /**
   * Brings every shard to `toMs` (or takes the window already asked for), moves this clock there
   * and tells waiting `when`s what changed; the window's messages wait in `unstored`. Resolves with
   * the number of watched values that changed.
   */
  private async takeWindow(toMs: number): Promise<number> {
    const clock = this.o.clock;
    const ahead = this.ahead.shift();
    const results = await (ahead?.results ?? this.requestAdvance(toMs));
    // Not the window's end: a shard stops early where a request in flight finishes, and the
    // profile's next step (that request's answer, from a timer here) comes at that time.
    const reached = Math.min(...results.map((r) => r.nowMs));
    this.unstored.push(this.shards.map((s, i) => [s, results[i].forwarded]));
    const progress = results.flatMap((r) => r.progress ?? []);
    if (progress.length > 0) {
      const byUnit = new Map(progress.map((p) => [p.unit, p]));
      this.latest = this.o.units.flatMap((u) => byUnit.get(u) ?? []);
    }
    clock.jumpTo(Math.min(reached, clock.nextDue() ?? reached));
    let changed = 0;
    for (const r of results) {
      for (const [unit, job, setting, value] of r.changed) {
        this.lookups.changed(unit, job, setting, value);
        changed++;
      }
    }
    return changed;
  }

  /** Hands the streamer what the shards sent from the windows taken so far. */
  private storeUnstored(): void {
    for (const batches of this.unstored.splice(0)) this.replay(batches);
  }

  private requestAdvance(toMs: number): Promise<AdvanceResult[]> {
    const wantProgress = Date.now() - this.lastProgressAt >= PROGRESS_EVERY_MS;
    if (wantProgress) this.lastProgressAt = Date.now();
    return Promise.all(this.shards.map((s) => s.request<AdvanceResult>({ type: "advance", toMs, wantProgress })));
  }

  /** Hands forwarded messages to the streamer, in the order they were delivered across all shards. */
  private replay(batches: Array<[ShardHandle, ForwardedBatch]>): void {
    for (const [shard, batch] of batches) shard.reader.load(batch);
    mergeByTime(
      batches.map(([s]) => s.reader),
      (m) => this.ingest.replay(m.topic, m.payload, m.timeMs),
    );
  }

  private async call(unit: string, method: UnitCallMethod, args: unknown[]): Promise<unknown> {
    const shard = this.shardOf.get(unit);
    // What an HTTP client sees for a unit that is not there: nothing answers.
    if (!shard) throw new ClusterRequestError("network", `No simulated unit called ${unit}.`);
    const r = await shard.request<CallResult>({ type: "call", method, args });
    this.unstored.push([[shard, r.forwarded]]);
    return this.at(r.nowMs, r.value);
  }

  private async lookup(unit: string, job: string, setting: string): Promise<string | null> {
    const shard = this.shardOf.get(unit)!;
    const r = await shard.request<LookupResult>({ type: "lookup", unit, job, setting });
    return this.at(r.nowMs, r.value);
  }

  /**
   * A request's answer, given to its caller from a timer of this thread's clock at the shard's
   * time: a start that took simulated time lets the executor go on when it would have in a
   * single-thread run, and the executor only ever acts between two advances, never during one.
   */
  private at<T>(nowMs: number, value: T): Promise<T> {
    const clock = this.o.clock;
    return new Promise((resolve) => clock.setTimeout(() => resolve(value), Math.max(0, nowMs - clock.now())));
  }
}

/**
 * Profile lookups: a shard's unit answers through its shard the first time, which from then on
 * reports every change of that value with each advance, so later reads are answered here; anything
 * else comes from the leader's bus.
 */
class ShardLookups implements WatchableLookups {
  private watchers: Array<(unit: string, job: string, setting: string) => void> = [];
  private readonly known = new Map<string, string | null>();
  private lastReadMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly local: BusLookups,
    private readonly clock: Clock,
    private readonly onShard: (unit: string) => boolean,
    private readonly remote: (unit: string, job: string, setting: string) => Promise<string | null>,
  ) {}

  experimentOf(): string {
    return this.local.experimentOf();
  }

  async get(unit: string, job: string, setting: string): Promise<string | null> {
    if (!this.onShard(unit)) return this.local.get(unit, job, setting);
    this.lastReadMs = this.clock.now();
    const key = `${unit}/${job}/${setting}`;
    const known = this.known.get(key);
    if (known !== undefined) return known;
    const value = await this.remote(unit, job, setting);
    this.known.set(key, value);
    return value;
  }

  /** Whether the profile read a unit value since `ms` (a `when` is waiting). */
  readSince(ms: number): boolean {
    return this.lastReadMs >= ms;
  }

  watch(listener: (unit: string, job: string, setting: string) => void): () => void {
    this.watchers.push(listener);
    const unwatchLocal = this.local.watch(listener);
    return () => {
      unwatchLocal();
      this.watchers = this.watchers.filter((w) => w !== listener);
    };
  }

  changed(unit: string, job: string, setting: string, value: string | null): void {
    this.known.set(`${unit}/${job}/${setting}`, value);
    for (const w of this.watchers) w(unit, job, setting);
  }

  close(): Promise<void> {
    return this.local.close();
  }
}

/**
 * Values as the unit receives them (Python's `str`, what the shard's client would make of them):
 * a PyInt is a class instance, which would arrive in the worker as a plain object.
 */
function asText(values: Record<string, PyValue>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) out[k] = pyStr(v);
  return out;
}

/** The executor's ClusterClient: experiment questions answered here, unit requests sent to the unit's shard. */
class ShardClusterClient extends SimulatedClusterClientBase implements ClusterClient {
  constructor(
    experiment: string,
    units: readonly string[],
    private readonly send: (unit: string, method: UnitCallMethod, args: unknown[]) => Promise<unknown>,
  ) {
    super(experiment, () => units);
  }

  async workerInfo(unit: string): Promise<WorkerInfo | null> {
    if (!this.hasUnit(unit)) return null;
    return (await this.send(unit, "workerInfo", [unit])) as WorkerInfo | null;
  }

  async startJob(unit: string, job: string, body: StartJobBody): Promise<StartJobResult> {
    this.count(unit);
    return (await this.send(unit, "startJob", [unit, job, { ...body, options: asText(body.options) }])) as StartJobResult;
  }

  async isJobRunning(unit: string, job: string): Promise<boolean> {
    return (await this.send(unit, "isJobRunning", [unit, job])) as boolean;
  }

  async updateJobSettings(unit: string, experiment: string, job: string, settings: Record<string, PyValue>): Promise<void> {
    this.count(unit);
    await this.send(unit, "updateJobSettings", [unit, experiment, job, asText(settings)]);
  }

  async stopJob(unit: string, experiment: string, job: string): Promise<void> {
    this.count(unit);
    await this.send(unit, "stopJob", [unit, experiment, job]);
  }

  async stopJobsFromSource(unit: string, experiment: string, jobSource: string): Promise<void> {
    await this.send(unit, "stopJobsFromSource", [unit, experiment, jobSource]);
  }

  async postUnitLog(unit: string, experiment: string, body: UnitLogBody): Promise<void> {
    this.count(unit);
    await this.send(unit, "postUnitLog", [unit, experiment, body]);
  }
}
