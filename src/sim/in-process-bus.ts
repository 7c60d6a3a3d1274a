/**
 * An in-process MQTT stand-in for the simulated cluster: topic wildcards, retained messages (a
 * zero-length retained publish clears), last wills, and clients that implement the PubSubClient
 * port the jobs, the profile engine and the streamer already take.
 *
 * Why not the embedded broker here: a simulated week is millions of messages, and the virtual
 * clock can only jump once every message caused by the previous timer has been handled. In-process
 * delivery happens a microtask after the publish (asynchronous like a broker, so no handler runs
 * inside its publisher's call stack), which the clock's settle rounds flush before it moves on —
 * no sockets, no real time. `pio serve --simulate` uses the embedded broker instead, because a
 * browser has to subscribe over WebSocket.
 */
import type { LastWill, MessageHandler, MqttMessage, PubSubClient, PublishOptions, QoS, SubscribeOptions, Subscription } from "../pubsub/types";
import { TopicIndex, topicMatches } from "./topic-index";

interface Sub {
  filters: string[];
  handler: MessageHandler;
  qos: QoS;
  allowRetained: boolean;
  client: InProcessClient;
  /** Until unsubscribed (checked on every delivery, cheaper than a set lookup). */
  active: boolean;
}

/** Counters for the run summary and the benchmark. */
export interface BusStats {
  published: number;
  delivered: number;
  retainedTopics: number;
}

/**
 * A payload as published: text stays text until a subscriber is there to receive it (most
 * settings a simulated unit publishes have none), then becomes UTF-8 bytes once per publish.
 */
type Payload = string | Buffer;

function bytesOf(payload: Payload): Buffer {
  return typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
}

export class InProcessBus {
  private readonly retained = new Map<string, Payload>();
  private readonly index = new TopicIndex<Sub>();
  private seq = 0;
  private published = 0;
  private delivered = 0;

  connect(opts: { clientIdBase: string; lastWill?: LastWill }): InProcessClient {
    return new InProcessClient(this, `${opts.clientIdBase}-${(this.seq++).toString(16)}`, opts.lastWill);
  }

  publish(topic: string, published: Payload, qos: QoS, retain: boolean): void {
    this.published++;
    if (retain) {
      // Empty text is exactly the empty payload (UTF-8 of no characters is no bytes).
      if (published.length === 0) this.retained.delete(topic);
      else this.retained.set(topic, published);
    }
    const matched = this.index.match(topic);
    if (matched.length === 0) return;
    const payload = bytesOf(published);
    // One microtask hands the message to every subscriber in turn. That is the order one
    // microtask per subscriber gave too (queued back to back, they ran before anything a handler
    // queues), at a fraction of the closures; a throwing handler must not starve the rest, so its
    // error is rethrown in a microtask of its own, where it surfaced before.
    queueMicrotask(() => {
      // Subscribers asking for the same QoS share one message object.
      const byQos: Array<MqttMessage | undefined> = [undefined, undefined, undefined];
      for (const sub of matched) {
        const q = (qos < sub.qos ? qos : sub.qos) as QoS;
        let message = byQos[q];
        if (message === undefined) {
          message = { topic, payload, qos: q, retain: false };
          byQos[q] = message;
        }
        this.delivered++;
        try {
          sub.client.deliver(sub, message);
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    });
  }

  subscribe(sub: Sub): void {
    for (const f of sub.filters) this.index.add(f, sub);
    if (!sub.allowRetained) return;
    for (const [topic, published] of this.retained) {
      if (sub.filters.some((f) => topicMatches(f, topic))) {
        const payload = bytesOf(published);
        queueMicrotask(() => sub.client.deliver(sub, { topic, payload, qos: sub.qos, retain: true }));
      }
    }
  }

  unsubscribe(sub: Sub): void {
    for (const f of sub.filters) this.index.remove(f, sub);
  }

  /** The retained payload of a topic as text, or undefined. */
  retainedValue(topic: string): string | undefined {
    const payload = this.retained.get(topic);
    return typeof payload === "string" ? payload : payload?.toString("utf8");
  }

  stats(): BusStats {
    return { published: this.published, delivered: this.delivered, retainedTopics: this.retained.size };
  }
}

export class InProcessClient implements PubSubClient {
  private connected = true;
  private readonly mySubs = new Set<Sub>();
  private readonly disconnectListeners = new Set<() => void>();

  constructor(
    private readonly bus: InProcessBus,
    readonly clientId: string,
    private readonly will: LastWill | undefined,
  ) {}

  async publish(topic: string, payload: string | Buffer, opts: PublishOptions = {}): Promise<void> {
    if (!this.connected) throw new Error(`${this.clientId} is not connected`);
    this.bus.publish(topic, payload, opts.qos ?? 0, opts.retain ?? false);
  }

  async subscribe(filter: string | string[], handler: MessageHandler, opts: SubscribeOptions = {}): Promise<Subscription> {
    const sub: Sub = {
      filters: Array.isArray(filter) ? filter : [filter],
      handler,
      qos: opts.qos ?? 0,
      allowRetained: opts.allowRetained ?? true,
      client: this,
      active: true,
    };
    this.mySubs.add(sub);
    this.bus.subscribe(sub);
    return { unsubscribe: async () => this.dropSub(sub) };
  }

  deliver(sub: Sub, message: MqttMessage): void {
    if (!this.connected || !sub.active) return;
    sub.handler(message);
  }

  private dropSub(sub: Sub): void {
    if (!this.mySubs.delete(sub)) return;
    sub.active = false;
    this.bus.unsubscribe(sub);
  }

  onReconnect(): () => void {
    return () => undefined;
  }

  onDisconnect(listener: () => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  isConnected(): boolean {
    return this.connected;
  }

  async end(): Promise<void> {
    if (!this.connected) return;
    for (const s of [...this.mySubs]) this.dropSub(s);
    this.connected = false;
  }

  /** The connection dies without a clean disconnect: the last will fires (a crashed unit). */
  simulateConnectionLoss(): void {
    if (!this.connected) return;
    this.connected = false;
    for (const s of [...this.mySubs]) this.dropSub(s);
    if (this.will) this.bus.publish(this.will.topic, this.will.payload, this.will.qos, this.will.retain);
    for (const l of this.disconnectListeners) l();
  }
}
