/**
 * The coordinator's end of one shard: its worker thread, numbered requests and their answers, and
 * the reader for the messages it forwards. A shard that dies (an uncaught error, a crash) fails
 * every request waiting on it with the reason, rather than leaving the run hanging.
 */
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { ClusterRequestError, type ClusterErrorKind } from "../../profiles/cluster-client";
import { ForwardReader } from "./forwarding";
import type { ForwardedBatch, SerializedError, ShardInit, ShardReply, ShardRequest } from "./protocol";

/** Distributive: keeps each request type's own fields when dropping `id`. */
type RequestBody = ShardRequest extends infer R ? (R extends ShardRequest ? Omit<R, "id"> : never) : never;

interface Waiting {
  resolve(result: unknown): void;
  reject(e: Error): void;
}

/** The compiled worker entry; missing when running from TypeScript sources (tests), where shards are not available. */
export function shardWorkerFile(): string | undefined {
  const file = path.join(__dirname, "shard-worker.js");
  return fs.existsSync(file) ? file : undefined;
}

function revive(e: SerializedError): Error {
  if (e.name === "ClusterRequestError") return new ClusterRequestError(e.kind as ClusterErrorKind, e.message, e.status);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

export class ShardHandle {
  readonly reader = new ForwardReader();
  /** The shard's simulated time, as of its last answer. */
  nowMs: number;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  /** Requests with no word back yet: the coordinator's clock waits for these. */
  private readonly unacknowledged = new Set<number>();
  private ackWaiters: Array<() => void> = [];
  /** Calls not yet answered with their result (some need the shard's clock to move first). */
  private readonly calls = new Set<number>();
  private dead: Error | undefined;
  private readonly started: Promise<ForwardedBatch>;

  constructor(
    readonly index: number,
    readonly init: ShardInit,
    workerFile: string,
    onLog: (line: string) => void,
  ) {
    this.nowMs = init.startMs;
    this.worker = new Worker(workerFile, { workerData: init });
    let ready: Waiting | undefined;
    this.started = new Promise<ForwardedBatch>((resolve, reject) => {
      ready = { resolve: (b) => resolve(b as ForwardedBatch), reject };
    });
    this.waiting.set(0, ready!);
    this.worker.on("message", (m: ShardReply) => this.onReply(m, onLog));
    this.worker.on("error", (e) => this.fail(new Error(`Simulated units ${init.units.join(", ")} failed: ${e.message}`)));
    this.worker.on("exit", (code) => this.fail(new Error(`The thread simulating ${init.units.join(", ")} exited (code ${code}).`)));
  }

  /** Resolves with the messages the units published while booting. */
  ready(): Promise<ForwardedBatch> {
    return this.started;
  }

  /** True while a call or lookup has had no answer (or word that it needs simulated time). */
  get awaitingWord(): boolean {
    return this.unacknowledged.size > 0;
  }

  /** Calls sent and not yet answered: while any is, the shard must stop where it finishes. */
  get callsInFlight(): number {
    return this.calls.size;
  }

  whenAnswered(): Promise<void> {
    if (this.unacknowledged.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push(resolve));
  }

  request<T extends { nowMs: number }>(body: RequestBody): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    if (body.type === "call" || body.type === "lookup") this.unacknowledged.add(id);
    if (body.type === "call") this.calls.add(id);
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.worker.postMessage({ ...body, id } as ShardRequest);
    });
  }

  async terminate(): Promise<void> {
    this.dead ??= new Error("The simulation is closed.");
    await this.worker.terminate();
  }

  private onReply(m: ShardReply, onLog: (line: string) => void): void {
    if (m.type === "log") {
      onLog(m.line);
      return;
    }
    this.acknowledge(m.id);
    if (m.type === "pending") return;
    this.calls.delete(m.id);
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.type === "error") {
      w.reject(revive(m.error));
      return;
    }
    this.nowMs = Math.max(this.nowMs, m.type === "ready" ? m.nowMs : m.result.nowMs);
    const forwarded = m.type === "ready" ? m.forwarded : "forwarded" in m.result ? m.result.forwarded : undefined;
    if (forwarded) this.reader.learn(forwarded);
    w.resolve(m.type === "ready" ? m.forwarded : m.result);
  }

  private acknowledge(id: number): void {
    if (!this.unacknowledged.delete(id) || this.unacknowledged.size > 0) return;
    for (const resolve of this.ackWaiters.splice(0)) resolve();
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
    this.calls.clear();
    for (const id of [...this.unacknowledged]) this.acknowledge(id);
  }
}
