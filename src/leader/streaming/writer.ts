/**
 * The streaming job's batching writer: rows are queued as they arrive and written in one
 * transaction per batch, one batch at a time.
 *
 * When a batch is written: as soon as the event loop has handed over everything that already
 * arrived (`setImmediate`), so under load a batch holds whatever came in during the previous
 * write (group commit) and at a trickle a row waits well under a millisecond. `batchDelayMs` > 0
 * trades latency for fewer, larger transactions.
 *
 * Nothing is dropped here. A batch the database fails is kept at the head of the queue and
 * retried with a growing delay. The queue has a *high-water mark* instead of a hard size: past it
 * `accepting` turns false and the job stops reading from the broker until the backlog falls to the
 * low-water mark (see job.ts), so memory stays bounded and the broker holds the rest.
 * (The original's queue of 250 blocked for 5 s and then dropped the row with a warning.)
 */
import type { Clock } from "../../util/clock";
import type { BatchResult, RowStore, RowWriteError } from "./row-store";
import type { TableRow } from "./sinks";

/** Default batch size for a store that writes off the job's thread (the SQLite writer thread). */
export const OFF_THREAD_BATCH_ROWS = 4000;

export interface RowWriterOptions {
  store: RowStore;
  clock: Clock;
  /** Most rows in one transaction. */
  maxBatchRows?: number;
  /** Backlog at which `accepting` turns false. */
  highWaterRows?: number;
  /** Backlog at which it turns true again (default: half the high-water mark). */
  lowWaterRows?: number;
  /** How long the first row of a batch waits for company; 0 = the next turn of the event loop. */
  batchDelayMs?: number;
  /** First retry delay after the database failed a batch; doubles up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  onBatchWritten?(result: BatchResult): void;
  onRowError?(error: RowWriteError): void;
  /** The database failed a whole batch (`attempt` = 1, 2, …); it will be retried. */
  onBatchFailure?(error: Error, attempt: number, rows: number): void;
}

export class WriterClosedError extends Error {
  override name = "WriterClosedError";
}

export class BatchingRowWriter {
  private readonly store: RowStore;
  private readonly clock: Clock;
  private readonly maxBatchRows: number;
  private readonly highWater: number;
  private readonly lowWater: number;
  private readonly batchDelayMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;

  private queue: TableRow[] = [];
  private scheduled = false;
  /** A batch waiting out `batchDelayMs`: closing writes it at once instead. */
  private delayedRun: { timer: { cancel(): void }; run: () => void } | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;
  private stopRetrying = false;
  private isAccepting = true;
  private acceptingWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: RowWriterOptions) {
    this.store = options.store;
    this.clock = options.clock;
    // ≈ 10 ms of SQLite work on a Raspberry Pi 4-class core: short enough to keep acknowledging.
    // Off the job's thread a batch does not block it: larger batches, fewer round trips.
    this.maxBatchRows = options.maxBatchRows ?? (options.store.writesOffThread ? OFF_THREAD_BATCH_ROWS : 1000);
    this.highWater = options.highWaterRows ?? 20_000;
    this.lowWater = options.lowWaterRows ?? Math.floor(this.highWater / 2);
    this.batchDelayMs = options.batchDelayMs ?? 0;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
    if (this.lowWater > this.highWater) throw new Error("lowWaterRows must not exceed highWaterRows");
  }

  /** Rows queued or being written. */
  get backlog(): number {
    return this.queue.length;
  }

  /** False while the backlog is above the high-water mark (until it falls to the low-water mark). */
  get accepting(): boolean {
    return this.isAccepting;
  }

  /** Queues rows for writing. Never drops: back-pressure is the caller's job, via `accepting`. */
  add(rows: TableRow | readonly TableRow[]): void {
    if (this.closed) throw new WriterClosedError("The streaming writer is closed; rows can no longer be queued.");
    if (Array.isArray(rows)) for (const r of rows) this.queue.push(r);
    else this.queue.push(rows as TableRow);
    if (this.queue.length >= this.highWater) this.isAccepting = false;
    this.schedule();
  }

  /** Resolves once `accepting` is true. */
  whenAccepting(): Promise<void> {
    if (this.isAccepting) return Promise.resolve();
    return new Promise((resolve) => this.acceptingWaiters.push(resolve));
  }

  /** Resolves once every row queued so far has been written (or refused by the database). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Writes what is queued and stops. If the database keeps failing for `giveUpAfterMs`, stops
   * retrying and resolves with the number of rows that could not be written (0 = all written).
   */
  async close(giveUpAfterMs = 30_000): Promise<number> {
    this.closed = true;
    const delayed = this.delayedRun;
    if (delayed) {
      delayed.timer.cancel();
      delayed.run();
    } else this.schedule();
    let timer: { cancel(): void } | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.stopRetrying = true;
        resolve();
      }, giveUpAfterMs);
    });
    await Promise.race([this.whenIdle(), gaveUp]);
    timer?.cancel();
    this.stopRetrying = true;
    await this.writing;
    const unwritten = this.queue.length;
    this.queue = [];
    this.settleWaiters();
    return unwritten;
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.queue.length === 0) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      this.delayedRun = undefined;
      this.writing = this.writeAll().finally(() => {
        this.writing = undefined;
        this.settleWaiters();
        this.schedule();
      });
    };
    if (this.batchDelayMs > 0 && !this.closed) this.delayedRun = { timer: this.clock.setTimeout(run, this.batchDelayMs, { housekeeping: true }), run };
    else setImmediate(run);
  }

  /** Writes batches until the queue is empty (rows added meanwhile included). */
  private async writeAll(): Promise<void> {
    let attempt = 0;
    while (this.queue.length > 0) {
      const n = Math.min(this.maxBatchRows, this.queue.length);
      // The batch leaves the queue only once it is committed: a failure keeps it for the retry.
      const batch = this.queue.slice(0, n);
      let result: BatchResult;
      try {
        result = await this.store.writeBatch(batch);
      } catch (e) {
        attempt += 1;
        this.options.onBatchFailure?.(e as Error, attempt, batch.length);
        if (this.stopRetrying) return;
        await this.clock.sleep(Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** (attempt - 1)));
        if (this.stopRetrying) return;
        continue;
      }
      attempt = 0;
      this.queue.splice(0, n);
      for (const err of result.rowErrors) this.options.onRowError?.(err);
      this.options.onBatchWritten?.(result);
      if (!this.isAccepting && this.queue.length <= this.lowWater) {
        this.isAccepting = true;
        for (const resolve of this.acceptingWaiters.splice(0)) resolve();
      }
      // A synchronous store (SQLite) would otherwise write the whole backlog in one go: let the
      // socket be read and the acknowledgements leave between batches. A broker with a bounded
      // queue per client (Mosquitto's max_queued_messages, 1000 on a Pioreactor) drops messages
      // for a subscriber that stops acknowledging for long.
      // (A store writing off the thread already let the event loop run while the batch was written.)
      if (this.queue.length > 0 && !this.store.writesOffThread) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private settleWaiters(): void {
    if (this.queue.length <= this.lowWater || this.closed) {
      this.isAccepting = true;
      for (const resolve of this.acceptingWaiters.splice(0)) resolve();
    }
    if (this.queue.length === 0 && !this.writing) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
