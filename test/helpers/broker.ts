/**
 * Brokers for tests. Every test that touches MQTT runs on a private embedded broker (a fresh
 * machine has no Mosquitto), and additionally on the broker named by `MQTT_TEST_BROKER`
 * (e.g. `mqtt://127.0.0.1:1883`, as in CI) so we stay honest against the real thing.
 *
 *   import { connectTestClient, uniqueSuffix, withBrokers } from "../helpers/broker";
 *
 *   for (const broker of withBrokers()) {
 *     describe(`stirring on ${broker.name}`, () => {
 *       test("publishes its state", async () => {
 *         const client = await connectTestClient(broker.url);
 *         const topic = `pioreactor/unit-${uniqueSuffix()}/exp/stirring/$state`;
 *         …
 *         await client.end();
 *       });
 *     });
 *   }
 *
 * `withBrokers()` registers beforeAll/afterAll hooks in the scope it is called from: the embedded
 * broker starts before the scope's tests and closes after them, and clients made with
 * `connectTestClient` that a failed test left open are ended then. A shared broker (Mosquitto)
 * sees other runs' traffic: put `uniqueSuffix()` in every topic.
 */
import { type ConnectMqttOptions, connectMqtt, type MqttPubSubClient } from "../../src/pubsub/client";
import { type EmbeddedBroker, type EmbeddedBrokerOptions, startEmbeddedBroker } from "../../src/pubsub/broker";

export interface BrokerTarget {
  /** `embedded` or `external`, for test titles. */
  readonly name: string;
  /** Valid inside tests and hooks (after `beforeAll`). */
  readonly url: string;
  /** The embedded broker's handle (to restart it, read its WebSocket URL); undefined for external. */
  readonly embedded: EmbeddedBroker | undefined;
}

/** The external broker from `MQTT_TEST_BROKER`, normalised to a URL, or undefined. */
export function externalBrokerUrl(): string | undefined {
  const raw = process.env.MQTT_TEST_BROKER?.trim();
  if (!raw) return undefined;
  return /^[a-z]+:\/\//.test(raw) ? raw : `mqtt://${raw}`;
}

/** One embedded broker (always) plus the external one (when configured); see the file comment. */
export function withBrokers(embeddedOptions: EmbeddedBrokerOptions = {}): BrokerTarget[] {
  let broker: EmbeddedBroker | undefined;
  const embedded: BrokerTarget = {
    name: "embedded",
    get url() {
      if (!broker) throw new Error("The embedded test broker is not running: use `url` inside a test or hook.");
      return broker.url;
    },
    get embedded() {
      return broker;
    },
  };
  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0, ...embeddedOptions });
  });
  afterAll(async () => {
    await endAllTestClients();
    await broker?.close();
  });
  const external = externalBrokerUrl();
  return external ? [embedded, { name: "external", url: external, embedded: undefined }] : [embedded];
}

const openClients = new Set<MqttPubSubClient>();

/** A connected client with test-friendly defaults (fast reconnects, id `test-…`). */
export async function connectTestClient(url: string, opts: Partial<ConnectMqttOptions> = {}): Promise<MqttPubSubClient> {
  const client = await connectMqtt({
    clientIdBase: "test",
    reconnectInitialDelayMs: 100,
    reconnectMaxDelayMs: 1000,
    firstConnectionTimeoutMs: 5000,
    ...opts,
    url,
  });
  openClients.add(client);
  const end = client.end.bind(client);
  client.end = async () => {
    openClients.delete(client);
    await end();
  };
  return client;
}

/** Ends every client `connectTestClient` made that is still open (withBrokers calls it). */
export async function endAllTestClients(): Promise<void> {
  await Promise.all([...openClients].map((c) => c.end()));
}

let counter = 0;
/** A topic-safe string unique to this run and call: `<pid>-<time>-<n>`. */
export function uniqueSuffix(): string {
  counter += 1;
  return `${process.pid}-${Date.now().toString(36)}-${counter}`;
}
