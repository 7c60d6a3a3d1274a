/**
 * The MQTT port. Jobs, the profile engine and the leader talk to the broker only through this
 * interface, so a test or a simulated cluster can hand them any connection (a real broker, the
 * embedded one, or an in-process one) without changing their code.
 */

export type QoS = 0 | 1 | 2;

export interface MqttMessage {
  topic: string;
  /** Raw bytes as published; a zero-length payload means "cleared". */
  payload: Buffer;
  qos: QoS;
  /** True when the broker delivered it from its retained store (not a live publish). */
  retain: boolean;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
}

export interface SubscribeOptions {
  qos?: QoS;
  /** Deliver retained messages to this handler (default true). Commands (`/set`) pass false. */
  allowRetained?: boolean;
}

export type MessageHandler = (message: MqttMessage) => void;

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export interface LastWill {
  topic: string;
  payload: string | Buffer;
  qos: QoS;
  retain: boolean;
}

export interface PubSubClient {
  readonly clientId: string;
  /** Resolves once the broker has the message (QoS ≥ 1) or it is written to the socket (QoS 0). */
  publish(topic: string, payload: string | Buffer, opts?: PublishOptions): Promise<void>;
  /** `filter` may use MQTT wildcards `+` and `#`. Handlers run in arrival order. */
  subscribe(filter: string | string[], handler: MessageHandler, opts?: SubscribeOptions): Promise<Subscription>;
  /** Called after every successful re-connection (not the first connection). */
  onReconnect(listener: () => void): () => void;
  /** Called when the connection drops (the client keeps retrying on its own). */
  onDisconnect(listener: () => void): () => void;
  isConnected(): boolean;
  /** Clean disconnect: the last will (if any) is not sent. */
  end(): Promise<void>;
}

/**
 * Where the pubsub layer reports what it cannot throw (a handler that failed, a reconnect attempt).
 * Kept to four methods so any logger (the job logger, console, a test spy) fits.
 */
export interface PubSubLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The logger used when none is injected: the pubsub layer stays silent. */
export const silentPubSubLogger: PubSubLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
