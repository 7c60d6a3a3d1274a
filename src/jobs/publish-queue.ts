/**
 * A job's outgoing messages, handed to the connection one at a time in the order they were
 * written: each publish starts only once the previous one has completed, as the original waits on
 * every publish (a QoS 0 message could otherwise overtake a QoS 2 one still in its handshake, and
 * subscribers would see settings in a different order).
 *
 * A plain FIFO instead of a chain of `then`s: every OD reading publishes a dozen settings and log
 * lines, and a promise chain cost four promises and about six microtasks per message, where this
 * costs the connection's own promise and one callback.
 *
 * With nothing in flight a publish still starts one microtask later, never in its caller's turn,
 * as it did behind the chain: a job that logs `Init.` and then subscribes (the streamer storing
 * its own log lines) relies on its subscription being in place before the line goes out.
 */
import type { PublishOptions, PubSubClient } from "../pubsub/types";

interface Outgoing {
  client: PubSubClient;
  topic: string;
  payload: string | Buffer;
  opts: PublishOptions;
  /** Failures of log lines are dropped silently (reporting them would log again). */
  quiet: boolean;
  /** Called once the publish has completed or failed (for callers that wait on it). */
  settle: (() => void) | undefined;
}

export class PublishQueue {
  private readonly waiting: Outgoing[] = [];
  private current: Outgoing | undefined;
  /** A message is being sent or about to be (from the moment one is pushed to the queue's draining). */
  private active = false;
  private idleWaiters: Array<() => void> = [];

  /** `onError` hears about every failed publish that is not `quiet`. */
  constructor(private readonly onError: (topic: string, e: unknown) => void) {}

  /** Publishes not yet completed, the one in flight included. */
  get size(): number {
    return this.waiting.length + (this.current === undefined ? 0 : 1);
  }

  push(client: PubSubClient, topic: string, payload: string | Buffer, opts: PublishOptions): void {
    this.enqueue({ client, topic, payload, opts, quiet: false, settle: undefined });
  }

  /** Like `push` for a message whose failure nobody hears of; resolves once it has left (or failed). */
  pushQuietly(client: PubSubClient, topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    return new Promise((resolve) => this.enqueue({ client, topic, payload, opts, quiet: true, settle: resolve }));
  }

  /** Resolves once every message pushed so far, and any pushed meanwhile, has completed. */
  idle(): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(item: Outgoing): void {
    this.waiting.push(item);
    if (this.active) return;
    this.active = true;
    queueMicrotask(this.sendNext);
  }

  private readonly sendNext = (): void => {
    const item = this.waiting.shift();
    this.current = item;
    if (item === undefined) {
      this.active = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
      return;
    }
    let sent: Promise<void>;
    try {
      sent = item.client.publish(item.topic, item.payload, item.opts);
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent.then(this.onSent, this.onFailed);
  };

  // Bound once: one pair of callbacks serves every message.
  private readonly onSent = (): void => {
    this.current?.settle?.();
    this.sendNext();
  };

  private readonly onFailed = (e: unknown): void => {
    const item = this.current;
    try {
      if (item !== undefined && !item.quiet) this.onError(item.topic, e);
    } finally {
      item?.settle?.();
      this.sendNext();
    }
  };
}
