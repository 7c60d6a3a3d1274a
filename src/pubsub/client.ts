/**
 * The PubSubClient adapter on mqtt.js (MQTT 3.1.1 by default, as the original's paho clients).
 *
 * Where it deliberately differs from the original (see docs/COMPATIBILITY.md):
 * - it reconnects forever with a capped, jittered backoff (paho gave up after 3 attempts and a job
 *   then ran deaf and mute until restarted);
 * - after every reconnect it re-subscribes everything itself, whatever the session flags, because a
 *   restarted broker has forgotten the session (mqtt.js would skip that for `clean: false`);
 * - publishes while offline wait in a bounded queue (oldest dropped first, so the newest state wins).
 */
import { randomInt } from "node:crypto";
import { connect as mqttConnect, type IClientOptions, type MqttClient } from "mqtt";
import { isTesting } from "../config/testing";
import type { ConfigReader } from "../config/types";
import { isValidFilter, TopicError, topicMatches } from "./topics";
import {
  type LastWill,
  type MessageHandler,
  type MqttMessage,
  type PublishOptions,
  type PubSubClient,
  type PubSubLogger,
  type QoS,
  type SubscribeOptions,
  type Subscription,
  silentPubSubLogger,
} from "./types";

export interface MqttConnectionOptions {
  /** `mqtt://host:port`, `mqtts://…`, `ws://host:port/mqtt` or `wss://…`; no credentials in it. */
  url: string;
  username?: string;
  password?: string;
  /** The id is `<base>-xxxx` (4 random [a-z0-9]), as the original: `stirring-sub-unit1-exp1-k3x9`. */
  clientIdBase?: string;
  keepaliveSeconds?: number;
  /** `false` asks the broker to keep the session (subscriptions, queued QoS>0) across disconnects. */
  clean?: boolean;
  /** Sent by the broker if this connection dies without a clean disconnect (re-armed on every reconnect). */
  lastWill?: LastWill;
  /** 4 = MQTT 3.1.1 (default, as the original), 5 = MQTT 5. */
  protocolVersion?: 4 | 5;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxDelayMs`. */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Attempts made without any delay before the first connection succeeds (the original's TESTING mode). */
  immediateFirstRetries?: number;
  /** Publishes held while offline; beyond it the oldest is dropped (its promise rejects). */
  maxOfflineQueue?: number;
  /** How long to wait for the CONNACK of one attempt. */
  connectTimeoutMs?: number;
  /** Verify the broker's TLS certificate (default true). */
  rejectUnauthorized?: boolean;
  logger?: PubSubLogger;
}

export interface ConnectMqttOptions extends MqttConnectionOptions {
  /**
   * `wait` (default): resolve once connected, reject with MqttConnectionError after
   * `firstConnectionTimeoutMs` (or at once if the broker refuses the credentials).
   * `background`: resolve immediately; the client keeps trying and queues publishes meanwhile.
   * Daemons that start before the leader's broker (boot order) want `background`.
   */
  firstConnection?: "wait" | "background";
  firstConnectionTimeoutMs?: number;
}

/** The broker could not be reached or refused us; `hint` says what the user can check. */
export class MqttConnectionError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = "MqttConnectionError";
  }
}

/** A publish that was dropped from the offline queue or abandoned by `end()`. */
export class PublishDroppedError extends Error {
  constructor(
    message: string,
    readonly topic: string,
  ) {
    super(message);
    this.name = "PublishDroppedError";
  }
}

/** How long `end()` waits for in-flight publishes before dropping the connection. */
const END_GRACE_MS = 5000;

const CLIENT_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** `<base>-xxxx` with 4 characters from [a-z0-9]. */
export function clientIdWithSuffix(base: string): string {
  let suffix = "";
  for (let i = 0; i < 4; i++) suffix += CLIENT_ID_ALPHABET[randomInt(CLIENT_ID_ALPHABET.length)];
  return `${base}-${suffix}`;
}

type EnvLike = Record<string, string | undefined>;

/** Python configparser truthiness, used for `[mqtt] use_tls`. */
function configTruthy(value: string | null | undefined): boolean {
  return value != null && ["1", "yes", "true", "on"].includes(value.trim().toLowerCase());
}

/** `host:port` for a URL, bracketing IPv6 literals. */
function hostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The cluster's broker as the configuration names it: host = first `;` entry of
 * `[mqtt] broker_address`, else `[cluster.topology] leader_address`, else `localhost`; port
 * `[mqtt] broker_port` (1883); TLS when `[mqtt] use_tls` is truthy; credentials `[mqtt]
 * username/password` (default pioreactor/raspberry). Under `TESTING` the first attempts retry at once.
 */
export function mqttOptionsFromConfig(config: ConfigReader, env: EnvLike = {}): MqttConnectionOptions {
  const nonEmpty = (v: string | null | undefined) => (v != null && v.trim() !== "" ? v.trim() : undefined);
  const address = nonEmpty(config.get("mqtt", "broker_address"));
  const firstAddress = address === undefined ? undefined : nonEmpty(address.split(";")[0]);
  const host = firstAddress ?? nonEmpty(config.get("cluster.topology", "leader_address")) ?? "localhost";
  const port = config.getInt("mqtt", "broker_port", 1883);
  const tls = configTruthy(config.get("mqtt", "use_tls"));
  return {
    url: `${tls ? "mqtts" : "mqtt"}://${hostPort(host, port)}`,
    username: config.getString("mqtt", "username", "pioreactor"),
    password: config.getString("mqtt", "password", "raspberry"),
    immediateFirstRetries: isTesting(env) ? 2 : 0,
  };
}

interface ActiveSubscription {
  filters: string[];
  handler: MessageHandler;
  qos: QoS;
  allowRetained: boolean;
}

interface QueuedPublish {
  topic: string;
  payload: Buffer;
  opts: PublishOptions;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Redacts nothing secret (credentials never go in the URL) but trims a trailing slash for messages. */
function displayUrl(url: string): string {
  return url.replace(/\/$/, "");
}

export class MqttPubSubClient implements PubSubClient {
  readonly clientId: string;
  readonly url: string;
  private readonly mqtt: MqttClient;
  private readonly logger: PubSubLogger;
  private readonly subscriptions = new Set<ActiveSubscription>();
  private readonly offlineQueue: QueuedPublish[] = [];
  private readonly reconnectListeners = new Set<() => void>();
  private readonly disconnectListeners = new Set<() => void>();
  private readonly connectedWaiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  private everConnected = false;
  private wasConnected = false;
  private failedAttempts = 0;
  private ended = false;
  private lastError: Error | undefined;
  private fatalFirstConnectError: MqttConnectionError | undefined;

  constructor(private readonly options: MqttConnectionOptions) {
    this.url = options.url;
    this.logger = options.logger ?? silentPubSubLogger;
    this.clientId = clientIdWithSuffix(options.clientIdBase ?? "pioreactor");
    this.mqtt = mqttConnect(options.url, this.mqttJsOptions());
    this.wire();
  }

  private mqttJsOptions(): IClientOptions {
    const o = this.options;
    const will = o.lastWill;
    return {
      clientId: this.clientId,
      username: o.username,
      password: o.password,
      keepalive: o.keepaliveSeconds ?? 60,
      clean: o.clean ?? true,
      protocolVersion: o.protocolVersion ?? 4,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: this.nextReconnectDelay(),
      // We re-subscribe ourselves after every connect; mqtt.js's own logic skips persistent sessions.
      resubscribe: false,
      // A refused CONNACK (wrong password) is retried too: the broker's users may be fixed meanwhile.
      reconnectOnConnackError: true,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      will: will
        ? {
            topic: will.topic,
            payload: typeof will.payload === "string" ? Buffer.from(will.payload, "utf8") : will.payload,
            qos: will.qos,
            retain: will.retain,
          }
        : undefined,
    };
  }

  private wire(): void {
    // Runs before mqtt.js's own 'close' handler, which schedules the next attempt with this period.
    this.mqtt.prependListener("close", () => {
      this.failedAttempts += this.wasConnected ? 0 : 1;
      this.mqtt.options.reconnectPeriod = this.nextReconnectDelay();
    });
    this.mqtt.on("close", () => {
      if (!this.wasConnected) return;
      this.wasConnected = false;
      if (!this.ended) this.logger.warn(`Lost the connection to the MQTT broker at ${displayUrl(this.url)}; reconnecting.`);
      this.emitTo(this.disconnectListeners, "disconnect");
    });
    this.mqtt.on("error", (err) => this.onError(err));
    this.mqtt.on("connect", () => this.onConnect());
    this.mqtt.on("message", (topic, payload, packet) => {
      this.dispatch({ topic, payload, qos: packet.qos as QoS, retain: packet.retain });
    });
  }

  private nextReconnectDelay(): number {
    const o = this.options;
    if (!this.everConnected && this.failedAttempts < (o.immediateFirstRetries ?? 0)) return 1; // 0 would disable reconnects
    const initial = o.reconnectInitialDelayMs ?? 1000;
    const max = o.reconnectMaxDelayMs ?? 30_000;
    const immediateUsed = this.everConnected ? 0 : (o.immediateFirstRetries ?? 0);
    const exponent = Math.max(0, this.failedAttempts - 1 - immediateUsed);
    const base = Math.min(max, initial * 2 ** Math.min(exponent, 20));
    // ±20% jitter so a hundred units do not hammer a restarted broker in lockstep.
    return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
  }

  private onError(err: Error & { code?: number | string }): void {
    this.lastError = err;
    this.logger.debug(`MQTT client ${this.clientId}: ${err.message}`);
    const refused = typeof err.code === "number" && (err.code === 4 || err.code === 5 || err.code === 134 || err.code === 135);
    if (refused && !this.everConnected) {
      this.fatalFirstConnectError = new MqttConnectionError(
        `The MQTT broker at ${displayUrl(this.url)} refused the connection: ${err.message.replace(/^Connection refused: /, "")}.`,
        this.url,
        "Check [mqtt] username and password in config.ini against the broker's users.",
      );
      this.rejectWaiters(this.fatalFirstConnectError);
    }
  }

  private onConnect(): void {
    const isReconnect = this.everConnected;
    this.everConnected = true;
    this.wasConnected = true;
    this.failedAttempts = 0;
    this.fatalFirstConnectError = undefined;
    this.mqtt.options.reconnectPeriod = this.nextReconnectDelay();
    for (const w of this.connectedWaiters) w.resolve();
    this.connectedWaiters.clear();
    this.resubscribeAll();
    this.flushOfflineQueue();
    if (isReconnect) {
      this.logger.info(`Reconnected to the MQTT broker at ${displayUrl(this.url)}.`);
      this.emitTo(this.reconnectListeners, "reconnect");
    }
  }

  private emitTo(listeners: Set<() => void>, what: string): void {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (err) {
        this.logger.error(`A ${what} listener failed: ${(err as Error).message}`);
      }
    }
  }

  private dispatch(message: MqttMessage): void {
    for (const sub of [...this.subscriptions]) {
      if (!this.subscriptions.has(sub)) continue; // unsubscribed by an earlier handler
      if (message.retain && !sub.allowRetained) continue;
      if (!sub.filters.some((f) => topicMatches(f, message.topic))) continue;
      try {
        const result: unknown = sub.handler(message);
        if (result instanceof Promise) {
          result.catch((err: Error) => this.logger.error(`Handler for ${message.topic} failed: ${err.message}`));
        }
      } catch (err) {
        this.logger.error(`Handler for ${message.topic} failed: ${(err as Error).message}`);
      }
    }
  }

  /** Highest QoS any live subscription asked for, per filter. */
  private filterQos(): Map<string, QoS> {
    const byFilter = new Map<string, QoS>();
    for (const sub of this.subscriptions) {
      for (const f of sub.filters) byFilter.set(f, Math.max(byFilter.get(f) ?? 0, sub.qos) as QoS);
    }
    return byFilter;
  }

  private resubscribeAll(): void {
    const byFilter = this.filterQos();
    if (byFilter.size === 0) return;
    const request: Record<string, { qos: QoS }> = {};
    for (const [f, qos] of byFilter) request[f] = { qos };
    this.mqtt.subscribeAsync(request).catch((err: Error) => {
      // A drop mid-way is retried on the next connect; anything else is worth a line in the log.
      if (this.mqtt.connected) this.logger.error(`Re-subscribing after reconnect failed: ${err.message}`);
    });
  }

  private flushOfflineQueue(): void {
    while (this.offlineQueue.length > 0 && this.mqtt.connected) {
      const item = this.offlineQueue.shift()!;
      this.send(item.topic, item.payload, item.opts).then(item.resolve, item.reject);
    }
  }

  private send(topic: string, payload: Buffer, opts: PublishOptions): Promise<void> {
    return this.mqtt.publishAsync(topic, payload, { qos: opts.qos ?? 0, retain: opts.retain ?? false }).then(() => undefined);
  }

  async publish(topic: string, payload: string | Buffer, opts: PublishOptions = {}): Promise<void> {
    if (topic.length === 0 || /[+#\u0000]/.test(topic)) {
      throw new TopicError(`Cannot publish to ${JSON.stringify(topic)}: a topic name cannot be empty or contain '+', '#' or NUL.`);
    }
    if (this.ended) throw new PublishDroppedError(`Cannot publish to ${topic}: the MQTT client has been ended.`, topic);
    const bytes = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
    if (this.mqtt.connected) return this.send(topic, bytes, opts);
    return new Promise<void>((resolve, reject) => {
      this.offlineQueue.push({ topic, payload: bytes, opts, resolve, reject });
      const max = this.options.maxOfflineQueue ?? 100;
      while (this.offlineQueue.length > max) {
        const dropped = this.offlineQueue.shift()!;
        dropped.reject(new PublishDroppedError(`Dropped a publish to ${dropped.topic}: the offline queue is full (${max}).`, dropped.topic));
      }
    });
  }

  async subscribe(filter: string | string[], handler: MessageHandler, opts: SubscribeOptions = {}): Promise<Subscription> {
    const filters = Array.isArray(filter) ? [...filter] : [filter];
    for (const f of filters) {
      if (!isValidFilter(f)) throw new TopicError(`${JSON.stringify(f)} is not a valid MQTT topic filter.`);
    }
    if (this.ended) throw new Error("Cannot subscribe: the MQTT client has been ended.");
    const sub: ActiveSubscription = { filters, handler, qos: opts.qos ?? 0, allowRetained: opts.allowRetained ?? true };
    // Registered before SUBSCRIBE goes out, so retained messages that follow the SUBACK are not missed.
    this.subscriptions.add(sub);
    if (this.mqtt.connected) {
      const byFilter = this.filterQos();
      const request: Record<string, { qos: QoS }> = {};
      for (const f of filters) request[f] = { qos: byFilter.get(f) ?? sub.qos };
      try {
        const granted = await this.mqtt.subscribeAsync(request);
        const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) {
          this.subscriptions.delete(sub);
          throw new Error(`The MQTT broker refused the subscription to ${refused.join(", ")}.`);
        }
      } catch (err) {
        // Lost the connection before the SUBACK: the next connect subscribes again.
        if (this.mqtt.connected || this.ended) {
          this.subscriptions.delete(sub);
          throw err;
        }
      }
    }
    return { unsubscribe: () => this.unsubscribe(sub) };
  }

  private async unsubscribe(sub: ActiveSubscription): Promise<void> {
    if (!this.subscriptions.delete(sub)) return;
    const stillUsed = this.filterQos();
    const unused = sub.filters.filter((f) => !stillUsed.has(f));
    if (unused.length > 0 && this.mqtt.connected && !this.ended) {
      await this.mqtt.unsubscribeAsync(unused).catch(() => undefined);
    }
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  onDisconnect(listener: () => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  isConnected(): boolean {
    return this.mqtt.connected;
  }

  /** Resolves when connected (now or later); rejects after `timeoutMs` or if the broker refuses us. */
  whenConnected(timeoutMs?: number): Promise<void> {
    if (this.mqtt.connected) return Promise.resolve();
    if (this.fatalFirstConnectError) return Promise.reject(this.fatalFirstConnectError);
    if (this.ended) return Promise.reject(new Error("The MQTT client has been ended."));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        resolve: () => {
          if (timer) clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          if (timer) clearTimeout(timer);
          this.connectedWaiters.delete(waiter);
          reject(e);
        },
      };
      this.connectedWaiters.add(waiter);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const cause = this.lastError ? ` (${this.lastError.message})` : "";
          waiter.reject(
            new MqttConnectionError(
              `Could not connect to the MQTT broker at ${displayUrl(this.url)} within ${timeoutMs / 1000} s${cause}.`,
              this.url,
              "Is the broker running? Check [mqtt] broker_address and broker_port in config.ini, or start one with `pio broker`.",
            ),
          );
        }, timeoutMs);
      }
    });
  }

  private rejectWaiters(err: Error): void {
    for (const w of [...this.connectedWaiters]) w.reject(err);
    this.connectedWaiters.clear();
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const item of this.offlineQueue.splice(0)) {
      item.reject(new PublishDroppedError(`Dropped a publish to ${item.topic}: the MQTT client was ended while offline.`, item.topic));
    }
    this.rejectWaiters(new Error("The MQTT client was ended before it connected."));
    this.subscriptions.clear();
    if (!this.mqtt.connected) {
      await this.mqtt.endAsync(true); // nothing to flush: just stop retrying
      return;
    }
    // A clean DISCONNECT once in-flight QoS>0 publishes complete (so the last will is not sent),
    // but never hang on a broker that stopped answering.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), END_GRACE_MS);
    });
    const outcome = await Promise.race([this.mqtt.endAsync(false), gaveUp]);
    clearTimeout(timer);
    if (outcome === "timeout") await this.mqtt.endAsync(true);
  }
}

/**
 * Opens a connection (see ConnectMqttOptions.firstConnection). The returned client keeps itself
 * connected until `end()`.
 */
export async function connectMqtt(opts: ConnectMqttOptions): Promise<MqttPubSubClient> {
  const client = new MqttPubSubClient(opts);
  if (opts.firstConnection === "background") return client;
  try {
    await client.whenConnected(opts.firstConnectionTimeoutMs ?? 10_000);
    return client;
  } catch (err) {
    await client.end();
    throw err;
  }
}

/** Connect, publish one message, disconnect: for `pio jobs set` and other one-shot senders. */
export async function publishOnce(
  opts: ConnectMqttOptions,
  topic: string,
  payload: string | Buffer,
  publishOpts: PublishOptions = {},
): Promise<void> {
  const client = await connectMqtt({ clientIdBase: "pio-publish", ...opts, firstConnection: "wait" });
  try {
    await client.publish(topic, payload, publishOpts);
  } finally {
    await client.end();
  }
}

/**
 * The first message matching `filter` (retained ones included unless `allowRetained: false`), or
 * undefined after `timeoutMs`: reads a retained value or waits for an event.
 */
export async function waitForMessage(
  client: PubSubClient,
  filter: string | string[],
  opts: { timeoutMs: number; allowRetained?: boolean; qos?: QoS; where?: (m: MqttMessage) => boolean },
): Promise<MqttMessage | undefined> {
  let settle: (m: MqttMessage | undefined) => void = () => {};
  const result = new Promise<MqttMessage | undefined>((resolve) => {
    settle = resolve;
  });
  const timer = setTimeout(() => settle(undefined), opts.timeoutMs);
  const sub = await client.subscribe(
    filter,
    (m) => {
      if (!opts.where || opts.where(m)) settle(m);
    },
    { qos: opts.qos ?? 0, allowRetained: opts.allowRetained ?? true },
  );
  try {
    return await result;
  } finally {
    clearTimeout(timer);
    await sub.unsubscribe();
  }
}
