/**
 * Packing a shard's database-bound messages for the trip to the coordinator, and unpacking them
 * there (see protocol.ts for the layout). Topics are interned: a unit publishes the same dozen
 * topics all week, so after the first batch a message costs 16 bytes plus its payload.
 */
import type { ForwardedBatch } from "./protocol";

const INITIAL_BYTES = 1 << 16;
const INITIAL_MESSAGES = 1 << 10;

export class ForwardPacker {
  private readonly ids = new Map<string, number>();
  private newTopics: string[] = [];
  private count = 0;
  private topicIds = new Uint32Array(INITIAL_MESSAGES);
  private times = new Float64Array(INITIAL_MESSAGES);
  private offsets = new Uint32Array(INITIAL_MESSAGES + 1);
  private bytes = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;

  add(topic: string, payload: Buffer, timeMs: number): void {
    let id = this.ids.get(topic);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(topic, id);
      this.newTopics.push(topic);
    }
    if (this.count === this.topicIds.length) this.growMessages();
    if (this.used + payload.length > this.bytes.length) this.growBytes(this.used + payload.length);
    this.topicIds[this.count] = id;
    this.times[this.count] = timeMs;
    this.offsets[this.count] = this.used;
    payload.copy(this.bytes, this.used);
    this.used += payload.length;
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** Everything added since the last call, in an exactly-sized batch whose buffers can be transferred. */
  take(): ForwardedBatch {
    const n = this.count;
    const offsets = new Uint32Array(n + 1);
    offsets.set(this.offsets.subarray(0, n));
    offsets[n] = this.used;
    const bytes = new ArrayBuffer(this.used);
    new Uint8Array(bytes).set(this.bytes.subarray(0, this.used));
    const batch: ForwardedBatch = {
      newTopics: this.newTopics,
      topicIds: this.topicIds.slice(0, n),
      times: this.times.slice(0, n),
      offsets,
      bytes,
    };
    this.newTopics = [];
    this.count = 0;
    this.used = 0;
    return batch;
  }

  /** The buffers of a batch, for `postMessage`'s transfer list. */
  static transferables(b: ForwardedBatch): ArrayBuffer[] {
    return [b.topicIds.buffer as ArrayBuffer, b.times.buffer as ArrayBuffer, b.offsets.buffer as ArrayBuffer, b.bytes];
  }

  private growMessages(): void {
    const n = this.topicIds.length * 2;
    const ids = new Uint32Array(n);
    ids.set(this.topicIds);
    const times = new Float64Array(n);
    times.set(this.times);
    const offsets = new Uint32Array(n + 1);
    offsets.set(this.offsets);
    this.topicIds = ids;
    this.times = times;
    this.offsets = offsets;
  }

  private growBytes(atLeast: number): void {
    const next = Buffer.allocUnsafe(Math.max(atLeast, this.bytes.length * 2));
    this.bytes.copy(next, 0, 0, this.used);
    this.bytes = next;
  }
}

/** One shard's batches, read back message by message in the order they were packed. */
export class ForwardReader {
  private readonly topics: string[] = [];
  private batch: ForwardedBatch | undefined;
  private payloads: Buffer | undefined;
  private index = 0;

  /**
   * Takes note of the topics a batch introduces. Called for every batch as it arrives, in order,
   * since batches may be read later than they came (topic ids count up across batches).
   */
  learn(batch: ForwardedBatch): void {
    for (const t of batch.newTopics) this.topics.push(t);
  }

  /** Starts reading `batch`, already `learn`ed (the previous one must have been read to the end). */
  load(batch: ForwardedBatch): void {
    this.batch = batch;
    this.payloads = Buffer.from(batch.bytes);
    this.index = 0;
  }

  /** Delivery time of the next message, or +∞ when the batch is read. */
  peekTime(): number {
    const b = this.batch;
    return b && this.index < b.topicIds.length ? b.times[this.index] : Number.POSITIVE_INFINITY;
  }

  /** The next message; call only when `peekTime()` is finite. */
  next(): { topic: string; payload: Buffer; timeMs: number } {
    const b = this.batch!;
    const i = this.index++;
    return { topic: this.topics[b.topicIds[i]], payload: this.payloads!.subarray(b.offsets[i], b.offsets[i + 1]), timeMs: b.times[i] };
  }
}

/**
 * Calls `deliver` for every message of every reader, in delivery-time order (ties: the lower
 * reader first, so a run is the same every time).
 */
export function mergeByTime(readers: readonly ForwardReader[], deliver: (m: { topic: string; payload: Buffer; timeMs: number }) => void): void {
  for (;;) {
    let best = -1;
    let bestTime = Number.POSITIVE_INFINITY;
    for (let i = 0; i < readers.length; i++) {
      const t = readers[i].peekTime();
      if (t < bestTime) {
        bestTime = t;
        best = i;
      }
    }
    if (best < 0) return;
    deliver(readers[best].next());
  }
}
