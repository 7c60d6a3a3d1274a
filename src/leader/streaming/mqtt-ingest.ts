/**
 * The streaming job's own broker connection for the data it stores: a persistent session
 * under a *stable* client id, with flow control.
 *
 * Why not the job's regular connection (`PubSubClient`):
 * - its client id ends in a random suffix, as the original's, so after a restart the broker sees
 *   a new client and the session holding what was published meanwhile is never resumed;
 * - it acknowledges every message as it arrives, so it cannot slow the broker down.
 *
 * Flow control: mqtt.js handles incoming packets strictly one after another, and sends the
 * PUBACK/PUBCOMP of a message and reads the next packet only once `handleMessage` calls back.
 * When the handler returns a promise (the writer's backlog is over its high-water mark) we call
 * back only when it settles: the socket stops being read, TCP pushes back, and the broker keeps
 * the following messages (still unacknowledged, so redelivered if we die meanwhile).
 *
 * Acknowledging only after the row is committed would close the remaining window (rows accepted
 * but not yet written when the process is killed), but with one-at-a-time acknowledgement that
 * would mean one transaction per message; the writer's backlog is the bounded price of batching.
 */
import { connect as mqttConnect, type IClientOptions, type MqttClient } from "mqtt";
import type { PubSubLogger, QoS } from "../../pubsub/types";
import { silentPubSubLogger } from "../../pubsub/types";

export interface IngestMessage {
  topic: string;
  payload: Buffer;
  /** Delivered from the broker's retained store (on subscribing), not published just now. */
  retain: boolean;
  /**
   * When it arrived, for a source that hands over messages received elsewhere (a sharded
   * simulation's units run on their own clocks); otherwise the job's clock says.
   */
  receivedAtMs?: number;
}

/** Return a promise to hold further deliveries (and this message's acknowledgement) until it settles. */
export type IngestHandler = (message: IngestMessage) => void | Promise<void>;

export interface IngestConnection {
  /** Stops receiving. The session stays with the broker, which queues QoS ≥ 1 messages meanwhile. */
  close(): Promise<void>;
}

/** The port the job talks to; tests may hand in anything that delivers messages. */
export interface IngestSource {
  /** `logger` hears about reconnects, lost sessions and refused subscriptions. */
  open(filters: readonly string[], handler: IngestHandler, logger?: PubSubLogger): Promise<IngestConnection>;
}

export interface MqttIngestOptions {
  url: string;
  username?: string;
  password?: string;
  /** Used as is (no random suffix): the broker finds our session by it after a restart. */
  clientId: string;
  /**
   * Subscription QoS, default 1 (the original asks for 2). The broker delivers at the lower of this
   * and the publisher's QoS. 2 buys nothing here (the ack is not tied to the commit either way)
   * and costs a second round trip per message inside the broker's in-flight window (Mosquitto: 20).
   */
  qos?: QoS;
  keepaliveSeconds?: number;
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  /**
   * mqtt.js's own debug lines (`DEBUG=mqttjs*`). Off unless asked for: the client calls its logger
   * about ten times per message, which costs more than storing the row's index entries.
   */
  mqttDebugLog?: boolean;
  /** How long `open` waits for the first connection before failing. */
  firstConnectionTimeoutMs?: number;
  logger?: PubSubLogger;
}

export class MqttIngestSource implements IngestSource {
  constructor(private readonly options: MqttIngestOptions) {}

  async open(filters: readonly string[], handler: IngestHandler, jobLogger?: PubSubLogger): Promise<IngestConnection> {
    const o = this.options;
    const logger = jobLogger ?? o.logger ?? silentPubSubLogger;
    const mqttOptions: IClientOptions = {
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      clean: false,
      protocolVersion: 4,
      keepalive: o.keepaliveSeconds ?? 60,
      // Faster than the units' clients (0.8–1.2 s): after a broker restart the job should be
      // subscribed again before units resend, because a fresh broker has no session to queue into.
      reconnectPeriod: o.reconnectPeriodMs ?? 250,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      // We subscribe on every connect ourselves: a restarted broker has forgotten the session.
      resubscribe: false,
      ...(o.mqttDebugLog ? {} : { log: () => {} }),
    };
    const client = mqttConnect(o.url, mqttOptions);
    const coalesceAcks = acknowledgementCoalescer(client);
    let closing = false;
    client.handleMessage = (packet, callback) => {
      // Once closing, mqtt.js no longer sends the PUBACK of what still arrives, so the broker
      // redelivers it to the next session: storing it now would store it twice. Leave it unhandled.
      if (closing) return;
      coalesceAcks();
      const ack = () => callback();
      let pending: Promise<void> | undefined;
      try {
        const result = handler({ topic: packet.topic, payload: packet.payload as Buffer, retain: packet.retain });
        if (result instanceof Promise) pending = result;
      } catch (e) {
        logger.error(`Handling ${packet.topic} failed: ${(e as Error).message}`);
      }
      if (pending) {
        pending.then(ack, (e: Error) => {
          logger.error(`Handling ${packet.topic} failed: ${e.message}`);
          ack();
        });
      } else ack();
    };

    const request = Object.fromEntries(filters.map((f) => [f, { qos: o.qos ?? 1 }]));
    let connections = 0;
    client.on("connect", (connack) => {
      connections += 1;
      if (connections > 1 && !connack.sessionPresent) {
        logger.warn(
          `The MQTT broker at ${o.url} no longer had this job's session (it was restarted, or the session expired): messages published while we were disconnected were not kept for us.`,
        );
      }
      client.subscribeAsync(request).then(
        (granted) => {
          const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
          if (refused.length > 0) logger.error(`The MQTT broker refused the subscriptions to ${refused.join(", ")}.`);
        },
        (e: Error) => {
          if (client.connected) logger.error(`Subscribing to the streamed topics failed: ${e.message}`);
        },
      );
    });
    client.on("error", (e) => logger.debug(`MQTT client ${o.clientId}: ${e.message}`));

    await waitForFirstConnection(client, o.url, o.firstConnectionTimeoutMs ?? 10_000).catch(async (e) => {
      await client.endAsync(true);
      throw e;
    });
    return {
      close: () => {
        closing = true;
        return endWithin(client, 5000);
      },
    };
  }
}

/**
 * Returns a function to call for each received message: the acknowledgements written until the
 * next turn of the event loop leave in one write. mqtt.js handles one packet per tick and
 * mqtt-packet flushes each PUBACK on the next tick, so without this every message cost a system
 * call (the job's largest cost after SQLite and decoding at full speed).
 */
function acknowledgementCoalescer(client: MqttClient): () => void {
  let held: { uncork(): void } | undefined;
  return () => {
    if (held) return;
    // A TCP socket; a WebSocket stream may not cork, then each ack leaves on its own as before.
    const stream = client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (typeof stream?.cork !== "function" || typeof stream.uncork !== "function") return;
    stream.cork();
    held = stream as { uncork(): void };
    setImmediate(() => {
      const s = held;
      held = undefined;
      s?.uncork();
    });
  };
}

function waitForFirstConnection(client: MqttClient, url: string, timeoutMs: number): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener("connect", onConnect);
      reject(new Error(`Could not connect to the MQTT broker at ${url} within ${timeoutMs / 1000} s.`));
    }, timeoutMs);
    const onConnect = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("connect", onConnect);
  });
}

/** A clean DISCONNECT, or dropping the socket if the broker stopped answering. */
async function endWithin(client: MqttClient, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  const outcome = await Promise.race([client.endAsync(false), gaveUp]);
  clearTimeout(timer);
  if (outcome === "timeout") await client.endAsync(true);
}
