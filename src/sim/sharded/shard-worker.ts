/**
 * A shard: some of a simulated cluster's units, in a worker thread, on a clock of their own that
 * moves only when the coordinator says how far (`advance`). Units never talk to each other, only
 * to the leader, so a unit runs here exactly as it would next to all the others: the same timers
 * and the same messages in the same order, on its own bus.
 *
 * Requests are taken in the order they arrive, so a job the profile starts at time T starts before
 * this clock moves past T; the profile's requests then run side by side, as on one shared clock.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { LogSink } from "../../jobs/logger";
import type { PubSubClient } from "../../pubsub/types";
import { ClusterRequestError } from "../../profiles/cluster-client";
import { runUntil, SimulationClock, turn } from "../clocks";
import { InProcessRuntime } from "../runtime";
import { WatchSink } from "../watch-sink";
import { ForwardPacker } from "./forwarding";
import type { ForwardedBatch, SerializedError, ShardInit, ShardReply, ShardRequest } from "./protocol";

/** Event-loop turns a call gets to finish without the clock moving (message deliveries, a publish chain). */
const SETTLE_TURNS = 3;

class Shard {
  private readonly packer = new ForwardPacker();
  private changed = new Map<string, [string, string, string]>();
  private readonly calls = new Set<Promise<void>>();
  private callWaiters: Array<() => void> = [];

  private runtime!: InProcessRuntime;

  private constructor(private readonly clock: SimulationClock) {}

  static async start(init: ShardInit, sinks: LogSink[]): Promise<Shard> {
    const clock = new SimulationClock(init.startMs);
    const shard = new Shard(clock);
    // What the coordinator's streamer would have received from these units, at the time it would
    // have: subscribed before the units boot, as the leader's streamer is.
    const listen = async (connect: (clientIdBase: string) => PubSubClient) => {
      await connect("sim-shard-forwarder").subscribe(init.forwardFilters, (m) => shard.packer.add(m.topic, m.payload, clock.now()), {
        qos: 1,
        allowRetained: false,
      });
    };
    shard.runtime = await InProcessRuntime.start({
      units: init.units,
      experiment: init.experiment,
      clock,
      // Units derive their noise seeds from the run's seed and their own name: the same culture on any shard.
      seed: init.seed,
      leader: init.leader,
      configOverrides: init.configOverrides,
      unitParams: (unit) => init.unitParams[unit],
      initialOd: init.initialOd,
      logSinks: sinks,
      adcOversampling: init.adcOversampling,
      appVersion: init.appVersion,
    }, listen);
    shard.runtime.lookups.watch((unit, job, setting) => shard.changed.set(`${unit}/${job}/${setting}`, [unit, job, setting]));
    return shard;
  }

  get nowMs(): number {
    return this.clock.now();
  }

  takeForwarded(): ForwardedBatch {
    return this.packer.take();
  }

  /**
   * Runs every timer due up to `toMs`, stopping early when a call in flight finishes: the
   * coordinator may answer that with the unit's next request, due right then.
   */
  async advance(toMs: number, wantProgress: boolean) {
    const now = this.clock.now();
    if (toMs > now) {
      const reached = this.clock.sleep(toMs - now);
      await runUntil(this.clock, this.calls.size > 0 ? Promise.race([reached, this.callSettled()]) : reached, "advancing the simulated units");
    }
    const changed: Array<[string, string, string, string | null]> = [];
    for (const [unit, job, setting] of this.changed.values()) changed.push([unit, job, setting, await this.runtime.lookups.get(unit, job, setting)]);
    this.changed = new Map();
    return { nowMs: this.clock.now(), forwarded: this.packer.take(), changed, ...(wantProgress ? { progress: this.runtime.live() } : {}) };
  }

  /**
   * Starts a request from the profile at once, at this clock's time, alongside any others: it
   * finishes as the clock moves on (`advance`), as it would with every unit on one clock.
   */
  async call(method: string, args: unknown[], reply: (r: { nowMs: number; forwarded: ForwardedBatch; value: unknown }) => void, fail: (e: unknown) => void, pending: () => void): Promise<void> {
    const client = this.runtime.client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    let settled = false;
    const done = client[method](...args).then(
      (value) => reply({ nowMs: this.clock.now(), forwarded: this.packer.take(), value }),
      (e) => fail(e),
    );
    void done.finally(() => {
      settled = true;
      this.calls.delete(done);
      for (const resolve of this.callWaiters.splice(0)) resolve();
    });
    this.calls.add(done);
    // Most requests (an update, a stop) are done once the messages they cause are delivered; the
    // coordinator must know whether to wait for the answer or move the clock for it.
    for (let i = 0; i < SETTLE_TURNS && !settled; i++) await turn();
    if (!settled) pending();
  }

  private callSettled(): Promise<void> {
    return new Promise((resolve) => this.callWaiters.push(resolve));
  }

  async lookup(unit: string, job: string, setting: string) {
    return { nowMs: this.clock.now(), value: await this.runtime.lookups.get(unit, job, setting) };
  }

  async finish() {
    const finals = await this.runtime.finish();
    return { nowMs: this.clock.now(), forwarded: this.packer.take(), units: [...finals], bus: { published: this.runtime.messagesPublished() } };
  }
}

function serializeError(e: unknown): SerializedError {
  const err = e instanceof Error ? e : new Error(String(e));
  const extra = err instanceof ClusterRequestError ? { kind: err.kind, ...(err.status !== undefined ? { status: err.status } : {}) } : {};
  return { name: err.name, message: err.message, ...extra };
}

/** The worker's main: start the units, then answer requests one after the other. */
function serve(init: ShardInit): void {
  const port = parentPort!;
  const post = (m: ShardReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const reply = (id: number, result: object & { forwarded?: ForwardedBatch }) =>
    post({ type: "result", id, result: result as never }, result.forwarded ? ForwardPacker.transferables(result.forwarded) : []);
  const sinks: LogSink[] = init.watchLogs ? [new WatchSink((line) => post({ type: "log", line }))] : [];
  const ready: Promise<Shard | undefined> = Shard.start(init, sinks).then(
    (shard) => {
      const forwarded = shard.takeForwarded();
      post({ type: "ready", id: 0, nowMs: shard.nowMs, forwarded }, ForwardPacker.transferables(forwarded));
      return shard;
    },
    (e) => {
      post({ type: "error", id: 0, error: serializeError(e) });
      return undefined;
    },
  );
  // Advances and the finish run one after the other; calls and lookups are answered as they come,
  // which is only ever between two advances (the coordinator sends them from its own timers).
  let queue: Promise<unknown> = ready;
  port.on("message", (req: ShardRequest) => {
    queue = queue.then(async () => {
      const shard = await ready;
      if (!shard) return;
      try {
        if (req.type === "call") {
          await shard.call(
            req.method,
            req.args,
            (r) => reply(req.id, r),
            (e) => post({ type: "error", id: req.id, error: serializeError(e) }),
            () => post({ type: "pending", id: req.id }),
          );
        }
        else if (req.type === "lookup") reply(req.id, await shard.lookup(req.unit, req.job, req.setting));
        else if (req.type === "advance") reply(req.id, await shard.advance(req.toMs, req.wantProgress));
        else reply(req.id, await shard.finish());
      } catch (e) {
        post({ type: "error", id: req.id, error: serializeError(e) });
      }
    });
  });
}

const init = workerData as ShardInit | undefined;
if (parentPort && init?.kind === "pioreactor-sim-shard") serve(init);
