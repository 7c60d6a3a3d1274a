/**
 * Persistent sessions across an embedded broker restart (src/pubsub/session-snapshot.ts): the
 * subscriptions of clean:false clients, the QoS 1/2 messages queued or in flight for them, incoming
 * QoS 2 packets and wills come back, so nothing published while a subscriber is away is lost.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import memoryPersistence from "aedes-persistence";
import { connect, connectAsync, type IClientOptions, type MqttClient } from "mqtt";
import { defaultSessionsFile, type EmbeddedBroker, startEmbeddedBroker } from "../../src/pubsub/broker";
import { type SessionPersistence, SessionSnapshotFile, SessionSnapshotter } from "../../src/pubsub/session-snapshot";
import type { PubSubLogger } from "../../src/pubsub/types";
import { connectTestClient, endAllTestClients, uniqueSuffix } from "../helpers/broker";

let tmp: string;
const brokers = new Set<EmbeddedBroker>();
const raw = new Set<MqttClient>();

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "pio-sessions-"));
});
afterEach(async () => {
  await Promise.all([...raw].map((c) => c.endAsync(true)));
  raw.clear();
  await endAllTestClients();
  await Promise.all([...brokers].map((b) => b.close()));
  brokers.clear();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function start(opts: Parameters<typeof startEmbeddedBroker>[0]): Promise<EmbeddedBroker> {
  const broker = await startEmbeddedBroker({ port: 0, snapshotDelayMs: 20, ...opts });
  brokers.add(broker);
  return broker;
}

async function restart(broker: EmbeddedBroker, opts: Parameters<typeof startEmbeddedBroker>[0]): Promise<EmbeddedBroker> {
  await broker.close();
  brokers.delete(broker);
  return start({ ...opts, port: broker.port });
}

/** A bare mqtt.js session under a fixed id, never reconnecting on its own (the test decides when). */
async function rawClient(url: string, clientId: string, extra: Partial<IClientOptions> = {}): Promise<MqttClient> {
  const client = await connectAsync(url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0, ...extra });
  client.on("error", () => undefined);
  raw.add(client);
  return client;
}

function recordingLogger(): PubSubLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, debug() {}, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

async function until(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${f}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("a clean:false QoS 1 subscription exists the moment the broker restarts: messages published before the subscriber reconnects reach it", async () => {
  const persistenceFile = join(tmp, "a_retained.json");
  let broker = await start({ persistenceFile });
  const topic = `pioreactor/u-${uniqueSuffix()}/exp1/od_reading/od1`;
  const id = `mqtt_to_db_streaming-ingest-${uniqueSuffix()}`;
  const sub = await rawClient(broker.url, id);
  await sub.subscribeAsync(topic, { qos: 1 });
  await sub.endAsync(true); // gone without a DISCONNECT, as when the broker dies under it

  broker = await restart(broker, { persistenceFile });
  expect(existsSync(defaultSessionsFile(persistenceFile))).toBe(true);
  const unit = await connectTestClient(broker.url);
  for (let i = 0; i < 20; i++) await unit.publish(topic, String(i), { qos: 1 });

  // The same session comes back and does not subscribe again: the broker kept it and queued for it.
  const back = connect(broker.url, { clientId: id, clean: false, protocolVersion: 4, reconnectPeriod: 0, manualConnect: true });
  raw.add(back);
  const got: string[] = [];
  back.on("message", (_t, payload) => got.push(payload.toString()));
  let sessionPresent: boolean | undefined;
  back.on("connect", (connack) => {
    sessionPresent = connack.sessionPresent;
  });
  back.connect();
  await until(() => got.length >= 20);
  expect(sessionPresent).toBe(true);
  expect(got).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
});

test("messages queued and in flight for an offline subscriber before the restart are delivered after it", async () => {
  const persistenceFile = join(tmp, "b_retained.json");
  let broker = await start({ persistenceFile });
  const topic = `pioreactor/u-${uniqueSuffix()}/exp1/od_reading/od1`;
  const id = `ingest-${uniqueSuffix()}`;
  // Never acknowledges: the first message stays in flight (sent, packet id assigned), the rest queued.
  const sub = await rawClient(broker.url, id);
  const firstSeen: { messageId?: number; payload: string }[] = [];
  sub.handleMessage = (packet, _callback) => {
    firstSeen.push({ messageId: packet.messageId, payload: packet.payload.toString() });
  };
  await sub.subscribeAsync(topic, { qos: 1 });
  const unit = await connectTestClient(broker.url);
  for (let i = 0; i < 5; i++) await unit.publish(topic, `before-${i}`, { qos: 1 });
  await until(() => firstSeen.length === 1);
  await sub.endAsync(true);
  for (let i = 5; i < 10; i++) await unit.publish(topic, `before-${i}`, { qos: 1 });

  broker = await restart(broker, { persistenceFile });
  const file = JSON.parse(readFileSync(defaultSessionsFile(persistenceFile), "utf8"));
  const session = file.clients.find((c: { id: string }) => c.id === id);
  expect(session.outgoing).toHaveLength(10);
  expect(session.outgoing[0].messageId).toBe(firstSeen[0].messageId);

  const got: { messageId?: number; payload: string }[] = [];
  const back = await rawClient(broker.url, id);
  back.on("message", (_t, payload, packet) => got.push({ messageId: packet.messageId, payload: payload.toString() }));
  await until(() => got.length >= 10);
  expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `before-${i}`));
  // The in-flight one is resent under its packet id, so a QoS 2 receiver could recognise the duplicate.
  expect(got[0].messageId).toBe(firstSeen[0].messageId);
  // Acknowledged now: the queue is empty and so is the next snapshot's session outgoing list.
  await back.endAsync();
  await until(() => {
    const now = JSON.parse(readFileSync(defaultSessionsFile(persistenceFile), "utf8"));
    return now.clients.find((c: { id: string }) => c.id === id)?.outgoing.length === 0;
  });
});

test("a clean connect under the same id ends the stored session, and the snapshot forgets it", async () => {
  const persistenceFile = join(tmp, "c_retained.json");
  const sessionsFile = defaultSessionsFile(persistenceFile);
  let broker = await start({ persistenceFile });
  const id = `gone-${uniqueSuffix()}`;
  const sub = await rawClient(broker.url, id);
  await sub.subscribeAsync(`t/${id}/#`, { qos: 1 });
  await sub.endAsync();
  broker = await restart(broker, { persistenceFile });
  expect(readFileSync(sessionsFile, "utf8")).toContain(id);
  const clean = await rawClient(broker.url, id, { clean: true });
  expect(clean.connected).toBe(true);
  await until(() => !readFileSync(sessionsFile, "utf8").includes(id));
});

test("wills: a persistent session's will is kept, a clean session's is not (its client returns under a new id)", async () => {
  const sessionsFile = join(tmp, "wills_sessions.json");
  const broker = await start({ sessionsFile });
  const will = { topic: `pioreactor/u-${uniqueSuffix()}/exp1/stirring/$state`, payload: Buffer.from("lost"), qos: 2 as const, retain: true };
  const jobId = `stirring-${uniqueSuffix()}`;
  const ingestId = `ingest-${uniqueSuffix()}`;
  await rawClient(broker.url, jobId, { clean: true, will });
  await rawClient(broker.url, ingestId, { clean: false, will });
  const saved = () => (existsSync(sessionsFile) ? JSON.parse(readFileSync(sessionsFile, "utf8")) : { wills: [] });
  await until(() => saved().wills.length > 0);
  await new Promise((r) => setTimeout(r, 60));
  const wills = saved().wills as { clientId: string; brokerId: string; topic: string }[];
  expect(wills.map((w) => [w.clientId, w.topic])).toEqual([[ingestId, will.topic]]);
  expect(typeof wills[0].brokerId).toBe("string");
});

test("a corrupt sessions file is reported and moved aside; the broker starts without sessions", async () => {
  const sessionsFile = join(tmp, "corrupt_sessions.json");
  writeFileSync(sessionsFile, '{"format": "pioreactor-ts broker sessions", "version": 1, "clients": [{"id": 3}');
  const logger = recordingLogger();
  const broker = await start({ sessionsFile, logger });
  expect(logger.lines.join("\n")).toMatch(/warn MQTT session snapshot .* was unreadable .* moved it to .*corrupt-.* started without sessions/);
  expect(readdirSync(tmp).some((f) => f.startsWith("corrupt_sessions.json.corrupt-"))).toBe(true);
  const c = await connectTestClient(broker.url);
  expect(c.isConnected()).toBe(true);

  // A well-formed file with a session the broker cannot take is skipped, the rest restored.
  const mixed = join(tmp, "mixed_sessions.json");
  writeFileSync(
    mixed,
    JSON.stringify({
      format: "pioreactor-ts broker sessions",
      version: 1,
      clients: [
        { id: "bad", subscriptions: [{ topic: "a/#/b", qos: 1 }], outgoing: [{ cmd: "publish", topic: null }], incoming: [] },
        { id: "good", subscriptions: [{ topic: "a/b", qos: 1 }], outgoing: [], incoming: [] },
      ],
      wills: [{ nonsense: true }],
    }),
  );
  const logger2 = recordingLogger();
  await start({ sessionsFile: mixed, logger: logger2 });
  expect(logger2.lines).toEqual(
    expect.arrayContaining([
      "warn Could not restore the MQTT session of bad: queued message 0: no topic",
      "warn Could not restore a will message: malformed will",
      `info Restored 1 MQTT session(s) with 0 queued message(s) from ${mixed}.`,
    ]),
  );
});

test("sessionsFile: false keeps sessions in memory only", async () => {
  const persistenceFile = join(tmp, "d_retained.json");
  const broker = await start({ persistenceFile, sessionsFile: false });
  const sub = await rawClient(broker.url, `mem-${uniqueSuffix()}`);
  await sub.subscribeAsync("t/x", { qos: 1 });
  await broker.close();
  expect(existsSync(defaultSessionsFile(persistenceFile))).toBe(false);
  expect(defaultSessionsFile("/x/embedded_broker_retained.json")).toBe("/x/embedded_broker_sessions.json");
  expect(defaultSessionsFile("/x/state.json")).toBe("/x/state_sessions.json");
});

test("snapshot round trip: subscriptions, queued and in-flight packets, PUBRELs, incoming QoS 2 packets and wills", async () => {
  const file = new SessionSnapshotFile(join(tmp, "roundtrip_sessions.json"), recordingLogger());
  const fakeBroker = { id: "broker-before" };
  const before = memoryPersistence() as unknown as SessionPersistence & { setup(b: unknown): Promise<void> };
  await before.setup(fakeBroker);
  const snap = new SessionSnapshotter(file, recordingLogger(), 10);
  await snap.restoreInto(before, fakeBroker.id);
  snap.watch(before);

  const client = { id: "ingest", clean: false };
  await before.addSubscriptions(client, [
    { topic: "pioreactor/+/+/od_reading/#", qos: 1 },
    { topic: "pioreactor/+/+/logs/+", qos: 2 },
  ]);
  const publish = (n: number, qos: number) => ({
    cmd: "publish",
    brokerId: "broker-before",
    brokerCounter: n,
    topic: `pioreactor/u1/exp1/od_reading/od${n}`,
    payload: Buffer.from([0, 255, n]),
    qos,
    retain: false,
    dup: false,
  });
  await before.outgoingEnqueueCombi([{ clientId: "ingest" }], publish(1, 1));
  await before.outgoingEnqueueCombi([{ clientId: "ingest" }], publish(2, 2));
  await before.outgoingEnqueueCombi([{ clientId: "ingest" }], publish(3, 1));
  await before.outgoingUpdate(client, { ...publish(1, 1), messageId: 41 }); // in flight
  await before.outgoingUpdate(client, { ...publish(2, 2), messageId: 42 });
  await before.outgoingUpdate(client, { cmd: "pubrel", messageId: 42 }); // QoS 2 at PUBREL stage
  await before.incomingStorePacket(client, { ...publish(9, 2), messageId: 7 });
  await before.putWill(client, { cmd: "publish", topic: "pioreactor/leader/$experiment/mqtt_to_db_streaming/$state", payload: Buffer.from("lost"), qos: 2, retain: true });
  const clean = { id: "a-job", clean: true };
  await before.incomingStorePacket(clean, { ...publish(10, 2), messageId: 8 });

  const snapshot = await snap.read();
  expect(snapshot.clients.map((c) => c.id)).toEqual(["ingest"]); // clean sessions are not kept
  await snap.close();

  const after = memoryPersistence() as unknown as SessionPersistence & { setup(b: unknown): Promise<void> };
  await after.setup({ id: "broker-after" });
  const restored = new SessionSnapshotter(file, recordingLogger(), 10);
  expect(await restored.restoreInto(after, "broker-after")).toEqual({ clients: 1, queued: 3 });
  restored.watch(after);

  expect(await after.subscriptionsByClient({ id: "ingest" })).toEqual([
    { topic: "pioreactor/+/+/od_reading/#", qos: 1 },
    { topic: "pioreactor/+/+/logs/+", qos: 2 },
  ]);
  const queue: { cmd: string; messageId?: number; payload?: Buffer }[] = [];
  for await (const p of after.outgoingStream({ id: "ingest" })) queue.push(p);
  expect(queue.map((p) => [p.cmd, p.messageId])).toEqual([
    ["publish", 41],
    ["pubrel", 42],
    ["publish", undefined],
  ]);
  expect(queue[0].payload).toEqual(Buffer.from([0, 255, 1]));
  expect((await after.incomingGetPacket({ id: "ingest" }, { messageId: 7 })).payload).toEqual(Buffer.from([0, 255, 9]));
  // Offline subscribers are found by topic again (this is what makes the broker queue for them).
  const subs = await (after as unknown as { subscriptionsByTopic(t: string): Promise<{ clientId: string }[]> }).subscriptionsByTopic(
    "pioreactor/u2/exp1/od_reading/od1",
  );
  expect(subs.map((s) => s.clientId)).toEqual(["ingest"]);
  // The will keeps the dead broker's id, so aedes publishes it unless the client returns.
  const wills: { brokerId: string; clientId: string }[] = [];
  for await (const w of after.streamWill({ "broker-after": Date.now() })) wills.push(w);
  expect(wills.map((w) => [w.clientId, w.brokerId])).toEqual([["ingest", "broker-before"]]);

  // Acknowledging through the restored persistence works as on the original one.
  await after.outgoingClearMessageId({ id: "ingest", clean: false } as never, { cmd: "puback", messageId: 41 });
  await after.outgoingClearMessageId({ id: "ingest", clean: false } as never, { cmd: "pubcomp", messageId: 42 });
  expect((await restored.read()).clients[0].outgoing).toHaveLength(1);
  await restored.close();
});
