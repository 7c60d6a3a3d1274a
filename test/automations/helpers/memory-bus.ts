/**
 * An in-process MQTT stand-in for long simulated runs on a VirtualClock: topic wildcards,
 * retained messages (a zero-length retained publish clears), last wills, and a log of every
 * publish with its QoS and retain flag so wire-format tests can compare topic by topic.
 * Delivery is asynchronous (a microtask later), like a broker, but needs no real time.
 */
import type { LastWill, MessageHandler, MqttMessage, PubSubClient, PublishOptions, QoS, SubscribeOptions, Subscription } from "../../../src/pubsub/types";

export interface Published {
  clientId: string;
  topic: string;
  payload: string;
  qos: QoS;
  retain: boolean;
}

export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
    if (f[i] === "+" && i === 0 && t[i].startsWith("$")) return false;
  }
  return f.length === t.length;
}

interface Sub {
  filters: string[];
  handler: MessageHandler;
  qos: QoS;
  allowRetained: boolean;
  client: MemoryClient;
}

export class MemoryBus {
  readonly log: Published[] = [];
  private readonly retained = new Map<string, Buffer>();
  private readonly subs = new Set<Sub>();
  private seq = 0;

  connect(opts: { clientIdBase: string; lastWill?: LastWill }): MemoryClient {
    return new MemoryClient(this, `${opts.clientIdBase}-${(this.seq++).toString(16)}`, opts.lastWill);
  }

  publish(clientId: string, topic: string, payload: Buffer, qos: QoS, retain: boolean): void {
    this.log.push({ clientId, topic, payload: payload.toString("utf8"), qos, retain });
    if (retain) {
      if (payload.length === 0) this.retained.delete(topic);
      else this.retained.set(topic, payload);
    }
    for (const sub of [...this.subs]) {
      if (!sub.filters.some((f) => topicMatches(f, topic))) continue;
      const message: MqttMessage = { topic, payload, qos: Math.min(qos, sub.qos) as QoS, retain: false };
      queueMicrotask(() => sub.client.deliver(sub, message));
    }
  }

  subscribe(sub: Sub): void {
    this.subs.add(sub);
    if (!sub.allowRetained) return;
    for (const [topic, payload] of this.retained) {
      if (sub.filters.some((f) => topicMatches(f, topic))) {
        queueMicrotask(() => sub.client.deliver(sub, { topic, payload, qos: sub.qos, retain: true }));
      }
    }
  }

  unsubscribe(sub: Sub): void {
    this.subs.delete(sub);
  }

  retainedValue(topic: string): string | undefined {
    return this.retained.get(topic)?.toString("utf8");
  }

  /** Log entries under a topic prefix, as `suffix payload` lines. */
  since(index: number, prefix: string): Published[] {
    return this.log.slice(index).filter((p) => p.topic.startsWith(prefix));
  }
}

export class MemoryClient implements PubSubClient {
  private connected = true;
  private readonly mySubs = new Set<Sub>();
  private readonly disconnectListeners = new Set<() => void>();

  constructor(
    private readonly bus: MemoryBus,
    readonly clientId: string,
    private readonly will: LastWill | undefined,
  ) {}

  async publish(topic: string, payload: string | Buffer, opts: PublishOptions = {}): Promise<void> {
    if (!this.connected) throw new Error("not connected");
    this.bus.publish(this.clientId, topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8"), opts.qos ?? 0, opts.retain ?? false);
  }

  async subscribe(filter: string | string[], handler: MessageHandler, opts: SubscribeOptions = {}): Promise<Subscription> {
    const sub: Sub = { filters: Array.isArray(filter) ? filter : [filter], handler, qos: opts.qos ?? 0, allowRetained: opts.allowRetained ?? true, client: this };
    if (!opts.allowRetained && opts.allowRetained !== undefined) sub.allowRetained = false;
    this.mySubs.add(sub);
    this.bus.subscribe(sub);
    return { unsubscribe: async () => this.dropSub(sub) };
  }

  deliver(sub: Sub, message: MqttMessage): void {
    if (!this.connected || !this.mySubs.has(sub)) return;
    if (message.retain && !sub.allowRetained) return;
    sub.handler(message);
  }

  private dropSub(sub: Sub): void {
    this.mySubs.delete(sub);
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

  /** The connection dies without a clean disconnect: the will fires and listeners hear about it. */
  simulateConnectionLoss(): void {
    if (!this.connected) return;
    this.connected = false;
    for (const s of [...this.mySubs]) this.dropSub(s);
    if (this.will) this.bus.publish(`${this.clientId}(will)`, this.will.topic, Buffer.from(this.will.payload), this.will.qos, this.will.retain);
    for (const l of this.disconnectListeners) l();
  }
}
