import type { MqttMessage, PubSubClient } from "../../src/pubsub/types";
import { startEmbeddedBroker } from "../../src/pubsub/broker";
import { waitForMessage } from "../../src/pubsub/client";
import { connectTestClient, uniqueSuffix, withBrokers } from "../helpers/broker";

/** Collects messages on a filter; `next()` waits for the next one (or fails after 3 s). */
async function collect(client: PubSubClient, filter: string, opts: { qos?: 0 | 1 | 2; allowRetained?: boolean } = {}) {
  const messages: MqttMessage[] = [];
  const waiters: (() => void)[] = [];
  await client.subscribe(
    filter,
    (m) => {
      messages.push(m);
      for (const w of waiters.splice(0)) w();
    },
    opts,
  );
  return {
    messages,
    async waitFor(count: number, timeoutMs = 3000): Promise<MqttMessage[]> {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} messages on ${filter}, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return messages;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const broker of withBrokers()) {
  describe(`client on the ${broker.name} broker`, () => {
    test("publish/subscribe keeps payload bytes, QoS and the retain flag", async () => {
      const root = `pioreactor/u-${uniqueSuffix()}/exp1/stirring`;
      const pub = await connectTestClient(broker.url);
      const sub = await connectTestClient(broker.url);
      await pub.publish(`${root}/target_rpm`, "500.0", { qos: 2, retain: true });

      const seen = await collect(sub, `${root}/+`, { qos: 2 });
      await seen.waitFor(1);
      expect(seen.messages[0]).toMatchObject({ topic: `${root}/target_rpm`, qos: 2, retain: true });
      expect(seen.messages[0].payload.toString()).toBe("500.0");

      // A live publish arrives with retain=0 on MQTT 3.1.1 (capture 01a), QoS = min(publish, subscribe).
      await pub.publish(`${root}/duty_cycle`, "100", { qos: 1, retain: true });
      await pub.publish(`${root}/logsish`, Buffer.from("℃"), { qos: 0 });
      const [, live, qos0] = await seen.waitFor(3);
      expect(live).toMatchObject({ topic: `${root}/duty_cycle`, qos: 1, retain: false });
      expect(qos0.payload).toEqual(Buffer.from("℃"));

      // Clearing: a zero-length retained publish removes it for later subscribers.
      await pub.publish(`${root}/target_rpm`, "", { qos: 2, retain: true });
      await pub.publish(`${root}/duty_cycle`, "", { qos: 2, retain: true });
      const late = await connectTestClient(broker.url);
      const got = await waitForMessage(late, `${root}/+`, { timeoutMs: 300, where: (m) => m.retain });
      expect(got).toBeUndefined();
      await Promise.all([pub.end(), sub.end(), late.end()]);
    });

    test("allowRetained:false ignores retained messages but gets live ones", async () => {
      const topic = `pioreactor/u-${uniqueSuffix()}/exp1/stirring/target_rpm/set`;
      const client = await connectTestClient(broker.url);
      await client.publish(topic, "300", { qos: 1, retain: true });
      const seen = await collect(client, topic, { qos: 2, allowRetained: false });
      await sleep(200);
      expect(seen.messages).toHaveLength(0);
      await client.publish(topic, "400.5", { qos: 1 });
      const [m] = await seen.waitFor(1);
      expect(m.payload.toString()).toBe("400.5");
      await client.publish(topic, "", { retain: true, qos: 1 });
      await client.end();
    });

    test("the last will is published retained at QoS 2 when the socket dies", async () => {
      const stateTopic = `pioreactor/u-${uniqueSuffix()}/exp1/stirring/$state`;
      const job = await connectTestClient(broker.url, {
        clientIdBase: "stirring-sub",
        clean: false,
        lastWill: { topic: stateTopic, payload: "lost", qos: 2, retain: true },
      });
      await job.publish(stateTopic, "ready", { qos: 2, retain: true });
      // Simulate `kill -9`: the TCP connection vanishes without a DISCONNECT.
      (job as unknown as { mqtt: { stream: { destroy(): void } } }).mqtt.stream.destroy();
      await job.end();

      const watcher = await connectTestClient(broker.url);
      const got = await waitForMessage(watcher, stateTopic, {
        timeoutMs: 5000,
        qos: 2,
        where: (m) => m.payload.toString() === "lost",
      });
      // Either seen live, or (if it landed first) as the retained value.
      expect(got?.payload.toString()).toBe("lost");
      const again = await connectTestClient(broker.url);
      const retained = await waitForMessage(again, stateTopic, { timeoutMs: 2000, qos: 2 });
      expect(retained).toMatchObject({ retain: true, qos: 2 });
      expect(retained?.payload.toString()).toBe("lost");
      await watcher.publish(stateTopic, "", { retain: true, qos: 1 });
      await Promise.all([watcher.end(), again.end()]);
    });

    test("a clean end does not fire the last will", async () => {
      const stateTopic = `pioreactor/u-${uniqueSuffix()}/exp1/stirring/$state`;
      const job = await connectTestClient(broker.url, { lastWill: { topic: stateTopic, payload: "lost", qos: 2, retain: true } });
      await job.publish(stateTopic, "disconnected", { qos: 2, retain: true });
      await job.end();
      const watcher = await connectTestClient(broker.url);
      const got = await waitForMessage(watcher, stateTopic, { timeoutMs: 2000, qos: 2 });
      expect(got?.payload.toString()).toBe("disconnected");
      await watcher.publish(stateTopic, "", { retain: true, qos: 1 });
      await watcher.end();
    });

    test("unsubscribe stops delivery; bad filters and topics are refused", async () => {
      const topic = `pioreactor/u-${uniqueSuffix()}/exp1/job/x`;
      const client = await connectTestClient(broker.url);
      const got: string[] = [];
      const a = await client.subscribe(topic, (m) => got.push(`a:${m.payload}`));
      await client.subscribe(topic, (m) => got.push(`b:${m.payload}`));
      await client.publish(topic, "1", { qos: 1 });
      await sleep(100);
      await a.unsubscribe();
      await client.publish(topic, "2", { qos: 1 });
      await sleep(100);
      expect(got).toEqual(["a:1", "b:1", "b:2"]);
      await expect(client.subscribe("a/#/b", () => {})).rejects.toThrow(/not a valid MQTT topic filter/);
      await expect(client.publish("a/+/b", "x")).rejects.toThrow(/cannot be empty or contain/);
      await client.end();
    });
  });
}

describe("first connection", () => {
  test("a broker that is not there gives a clear error", async () => {
    const started = Date.now();
    await expect(
      connectTestClient("mqtt://127.0.0.1:1", { firstConnectionTimeoutMs: 500, immediateFirstRetries: 2 }),
    ).rejects.toThrow(/Could not connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:1 within 0\.5 s/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test("background mode queues publishes until the broker appears", async () => {
    const probe = await startEmbeddedBroker({ port: 0 });
    const port = probe.port;
    await probe.close();

    const client = await connectTestClient(`mqtt://127.0.0.1:${port}`, {
      firstConnection: "background",
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 100,
    });
    expect(client.isConnected()).toBe(false);
    const sent = client.publish("pioreactor/u/e/job/queued", "kept", { qos: 1, retain: true });
    const broker = await startEmbeddedBroker({ port });
    try {
      await sent;
      const reader = await connectTestClient(broker.url);
      const got = await waitForMessage(reader, "pioreactor/u/e/job/queued", { timeoutMs: 2000 });
      expect(got?.payload.toString()).toBe("kept");
      await Promise.all([reader.end(), client.end()]);
    } finally {
      await broker.close();
    }
  });

  test("the offline queue is bounded: the oldest publish is dropped", async () => {
    const client = await connectTestClient("mqtt://127.0.0.1:1", { firstConnection: "background", maxOfflineQueue: 2 });
    const first = client.publish("a/1", "1");
    const second = client.publish("a/2", "2");
    const third = client.publish("a/3", "3");
    await expect(first).rejects.toThrow(/offline queue is full \(2\)/);
    await client.end();
    await expect(second).rejects.toThrow(/ended while offline/);
    await expect(third).rejects.toThrow(/ended while offline/);
  });
});
