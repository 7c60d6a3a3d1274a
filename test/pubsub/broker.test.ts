import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EmbeddedBroker, ensureBroker, startEmbeddedBroker } from "../../src/pubsub/broker";
import { connectMqtt, waitForMessage } from "../../src/pubsub/client";
import { connectTestClient, endAllTestClients, uniqueSuffix } from "../helpers/broker";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "pio-broker-"));
});
afterAll(async () => {
  await endAllTestClients();
  rmSync(tmp, { recursive: true, force: true });
});

async function withBroker<T>(opts: Parameters<typeof startEmbeddedBroker>[0], fn: (b: EmbeddedBroker) => Promise<T>): Promise<T> {
  const broker = await startEmbeddedBroker({ port: 0, ...opts });
  try {
    return await fn(broker);
  } finally {
    await broker.close();
  }
}

test("reconnect after a broker restart on the same port: re-subscribes and fires onReconnect", async () => {
  const first = await startEmbeddedBroker({ port: 0 });
  const port = first.port;
  const topic = `pioreactor/u-${uniqueSuffix()}/exp1/stirring/target_rpm/set`;
  // clean:false, like the original's job subscriber: the restarted broker has no memory of the session.
  const job = await connectTestClient(first.url, { clean: false, reconnectInitialDelayMs: 100 });
  const received: string[] = [];
  await job.subscribe(topic, (m) => received.push(m.payload.toString()), { qos: 2, allowRetained: false });
  const reconnected = new Promise<number>((resolve) => job.onReconnect(() => resolve(Date.now())));
  const dropped = new Promise<void>((resolve) => job.onDisconnect(resolve));

  await first.close();
  await dropped;
  const restartedAt = Date.now();
  const second = await startEmbeddedBroker({ port });
  try {
    const at = await reconnected;
    expect(at - restartedAt).toBeLessThan(5000);
    const sender = await connectTestClient(second.url);
    // The SUBSCRIBE re-sent after reconnect may still be in flight: retry until it lands.
    for (let i = 0; i < 50 && received.length === 0; i++) {
      await sender.publish(topic, "300", { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(received[0]).toBe("300");
    await Promise.all([sender.end(), job.end()]);
  } finally {
    await second.close();
  }
});

test("auth: the configured user gets in, a wrong password is refused with a clear error", async () => {
  await withBroker({ username: "pioreactor", password: "raspberry" }, async (broker) => {
    const ok = await connectMqtt({ url: broker.url, username: "pioreactor", password: "raspberry" });
    expect(ok.isConnected()).toBe(true);
    await ok.end();
    await expect(connectMqtt({ url: broker.url, username: "pioreactor", password: "wrong" })).rejects.toThrow(
      /refused the connection: Bad username or password/,
    );
    await expect(connectMqtt({ url: broker.url })).rejects.toThrow(/refused/);
  });
});

test("WebSocket clients at /mqtt exchange messages with TCP clients", async () => {
  await withBroker({ wsPort: 0 }, async (broker) => {
    expect(broker.wsUrl).toBe(`ws://127.0.0.1:${broker.wsPort}/mqtt`);
    const topic = `pioreactor/u-${uniqueSuffix()}/exp1/stirring/$state`;
    const browser = await connectTestClient(broker.wsUrl!);
    const unit = await connectTestClient(broker.url);
    await unit.publish(topic, "ready", { qos: 2, retain: true });
    const got = await waitForMessage(browser, topic, { timeoutMs: 2000 });
    expect(got?.payload.toString()).toBe("ready");
    await Promise.all([browser.end(), unit.end()]);

    // Other paths are not MQTT.
    await expect(connectMqtt({ url: `ws://127.0.0.1:${broker.wsPort}/other`, firstConnectionTimeoutMs: 500 })).rejects.toThrow(
      /Could not connect/,
    );
  });
});

test("attachToHttpServer serves /mqtt on another server and leaves its other routes alone", async () => {
  await withBroker({}, async (broker) => {
    const server = createServer((_req, res) => res.end("hello from the web server"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const detach = broker.attachToHttpServer(server, "/mqtt");
    try {
      const port = (server.address() as { port: number }).port;
      const client = await connectTestClient(`ws://127.0.0.1:${port}/mqtt`);
      const topic = `pioreactor/u-${uniqueSuffix()}/exp1/x/y`;
      const seen = waitForMessage(client, topic, { timeoutMs: 2000 });
      await new Promise((r) => setTimeout(r, 50));
      const unit = await connectTestClient(broker.url);
      await unit.publish(topic, "1");
      expect((await seen)?.payload.toString()).toBe("1");
      const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      expect(body).toBe("hello from the web server");
      await Promise.all([client.end(), unit.end()]);
    } finally {
      detach();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

test("retained messages survive a restart when a persistence file is given", async () => {
  const file = join(tmp, "retained.json");
  const root = `pioreactor/u-${uniqueSuffix()}/exp1/stirring`;
  const first = await startEmbeddedBroker({ port: 0, persistenceFile: file, snapshotDelayMs: 20 });
  const port = first.port;
  const c = await connectTestClient(first.url);
  await c.publish(`${root}/$state`, "ready", { qos: 2, retain: true });
  await c.publish(`${root}/target_rpm`, "500.0", { qos: 2, retain: true });
  await c.publish(`${root}/duty_cycle`, "30.0", { qos: 1, retain: true });
  await c.publish(`${root}/duty_cycle`, "", { qos: 1, retain: true }); // cleared → not restored
  await c.publish(`${root}/not_retained`, "x", { qos: 1 });
  await c.end();
  await first.close();
  expect(JSON.parse(readFileSync(file, "utf8")).messages).toHaveLength(2);

  const second = await startEmbeddedBroker({ port, persistenceFile: file });
  try {
    const reader = await connectTestClient(second.url);
    const got = new Map<string, string>();
    await reader.subscribe(`${root}/#`, (m) => got.set(m.topic.slice(root.length + 1), `${m.payload}|q${m.qos}|r${m.retain}`), {
      qos: 2,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(Object.fromEntries(got)).toEqual({ $state: "ready|q2|rtrue", target_rpm: "500.0|q2|rtrue" });
    await reader.end();
  } finally {
    await second.close();
  }

  // Without the file, a restart forgets (the original's Mosquitto behaviour).
  const third = await startEmbeddedBroker({ port });
  try {
    const reader = await connectTestClient(third.url);
    expect(await waitForMessage(reader, `${root}/#`, { timeoutMs: 200 })).toBeUndefined();
    await reader.end();
  } finally {
    await third.close();
  }
});

test("a corrupt persistence file is moved aside, not fatal", async () => {
  const file = join(tmp, "corrupt.json");
  writeFileSync(file, "{not json");
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
  await withBroker({ persistenceFile: file, logger }, async () => {
    expect(warnings.join()).toMatch(/unreadable .* moved it to .*corrupt-/);
  });
});

test("ensureBroker: uses an answering broker, otherwise starts an embedded one", async () => {
  await withBroker({}, async (running) => {
    const existing = await ensureBroker(running.url, { embedded: true });
    expect(existing.embedded).toBeUndefined();
    await existing.close();
  });

  const probe = await startEmbeddedBroker({ port: 0 });
  const freePort = probe.port;
  await probe.close();
  await expect(ensureBroker(`mqtt://127.0.0.1:${freePort}`, { embedded: false, probeTimeoutMs: 200 })).rejects.toThrow(
    /No MQTT broker answers/,
  );
  await expect(ensureBroker("mqtt://192.0.2.1:1883", { embedded: true, probeTimeoutMs: 200 })).rejects.toThrow(
    /can only stand in for a plain mqtt:\/\/ address on this machine/,
  );
  const started = await ensureBroker(`mqtt://localhost:${freePort}`, { embedded: true });
  try {
    expect(started.embedded?.port).toBe(freePort);
    const c = await connectTestClient(started.url);
    await c.end();
  } finally {
    await started.close();
  }
});

test("port already in use is reported, not swallowed", async () => {
  await withBroker({}, async (running) => {
    await expect(startEmbeddedBroker({ port: running.port })).rejects.toThrow(/EADDRINUSE/);
  });
});
