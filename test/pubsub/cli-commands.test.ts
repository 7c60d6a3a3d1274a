import { Command } from "commander";
import { brokerDefaultsFromConfig, registerBrokerCommand } from "../../src/cli/broker-cmd";
import { formatMqttLine, localIsoSeconds, registerMqttCommand } from "../../src/cli/mqtt-cmd";
import { startEmbeddedBroker } from "../../src/pubsub/broker";
import { connectMqtt, mqttOptionsFromConfig } from "../../src/pubsub/client";
import type { ConfigReader } from "../../src/config/types";
import { connectTestClient, uniqueSuffix, withBrokers } from "../helpers/broker";

/** A ConfigReader over a plain object, enough for these tests. */
function fakeConfig(values: Record<string, Record<string, string>>): ConfigReader {
  const get = (s: string, k: string) => values[s]?.[k];
  return {
    get,
    getString: (s, k, fb) => get(s, k) ?? fb ?? "",
    getFloat: (s, k, fb) => Number(get(s, k) ?? fb),
    getInt: (s, k, fb) => Number(get(s, k) ?? fb),
    getBoolean: (s, k, fb) => (get(s, k) === undefined ? Boolean(fb) : ["1", "true", "yes", "on"].includes(get(s, k)!.toLowerCase())),
    has: (s, k) => get(s, k) !== undefined,
    hasSection: (s) => s in values,
    section: (s) => values[s],
    sections: () => Object.keys(values),
  };
}

describe("mqttOptionsFromConfig", () => {
  test("first broker_address entry, port, TLS, credentials", () => {
    const o = mqttOptionsFromConfig(
      fakeConfig({ mqtt: { broker_address: "leader.local;10.0.0.2", broker_port: "1884", use_tls: "1", username: "u", password: "p" } }),
      {},
    );
    expect(o).toMatchObject({ url: "mqtts://leader.local:1884", username: "u", password: "p", immediateFirstRetries: 0 });
  });
  test("falls back to leader_address, then localhost, and default credentials", () => {
    expect(mqttOptionsFromConfig(fakeConfig({ "cluster.topology": { leader_address: "10.0.0.1" } }), {}).url).toBe("mqtt://10.0.0.1:1883");
    const o = mqttOptionsFromConfig(fakeConfig({ mqtt: { broker_address: "" } }), { TESTING: "1" });
    expect(o).toMatchObject({ url: "mqtt://localhost:1883", username: "pioreactor", password: "raspberry", immediateFirstRetries: 2 });
    expect(mqttOptionsFromConfig(fakeConfig({ mqtt: { broker_address: "::1" } })).url).toBe("mqtt://[::1]:1883");
  });
});

test("line format: local time to the second | topic | payload, coloured on a terminal", () => {
  const when = new Date(2026, 10, 21, 5, 42, 27, 900);
  expect(localIsoSeconds(when)).toBe("2026-11-21T05:42:27");
  const m = { topic: "pioreactor/leader/exp1/stirring/$state", payload: Buffer.from("ready") };
  expect(formatMqttLine(when, m, false)).toBe("2026-11-21T05:42:27 | pioreactor/leader/exp1/stirring/$state | ready");
  expect(formatMqttLine(when, m, true)).toBe(
    "\x1b[36m2026-11-21T05:42:27\x1b[0m | \x1b[92mpioreactor/leader/exp1/stirring/$state\x1b[0m | \x1b[93mready\x1b[0m",
  );
});

for (const broker of withBrokers()) {
  test(`pio mqtt prints retained and live messages until stopped (${broker.name})`, async () => {
    const root = `pioreactor/u-${uniqueSuffix()}/exp1/stirring`;
    const publisher = await connectTestClient(broker.url);
    await publisher.publish(`${root}/$state`, "ready", { qos: 2, retain: true });

    const lines: string[] = [];
    let stop: () => void = () => {};
    const stopped = new Promise<void>((r) => {
      stop = r;
    });
    const program = new Command().exitOverride();
    registerMqttCommand(program, {
      mqttOptions: () => ({ url: broker.url }),
      print: (l) => lines.push(l),
      color: false,
      untilStopped: () => stopped,
    });
    const running = program.parseAsync(["node", "pio", "mqtt", "-t", `${root}/#`]);
    for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await publisher.publish(`${root}/target_rpm`, "500.0", { qos: 1 });
    for (let i = 0; i < 100 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    stop();
    await running;
    expect(lines.map((l) => l.replace(/^\S+ \| /, ""))).toEqual([`${root}/$state | ready`, `${root}/target_rpm | 500.0`]);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \| /);
    await publisher.publish(`${root}/$state`, "", { qos: 1, retain: true });
    await publisher.end();
  });
}

test("pio mqtt without a broker fails with a clear message", async () => {
  const program = new Command().exitOverride();
  registerMqttCommand(program, {
    mqttOptions: () => ({ url: "mqtt://127.0.0.1:1" }),
    print: () => {},
    connect: (o) => connectMqtt({ ...o, firstConnectionTimeoutMs: 300 }),
  });
  await expect(program.parseAsync(["node", "pio", "mqtt"])).rejects.toThrow(
    /Could not connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:1[\s\S]*broker_address/,
  );
});

test("pio broker runs with the config's credentials until stopped", async () => {
  const printed: string[] = [];
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    stop = r;
  });
  const program = new Command().exitOverride();
  registerBrokerCommand(program, {
    brokerDefaults: () => brokerDefaultsFromConfig(fakeConfig({ mqtt: { username: "pioreactor", password: "s3cret" } })),
    print: (l) => printed.push(l),
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    untilStopped: () => stopped,
  });
  const running = program.parseAsync(["node", "pio", "broker", "--port", "0", "--ws-port", "0", "--host", "127.0.0.1"]);
  for (let i = 0; i < 100 && printed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const [, port, wsPort] = /mqtt:\/\/127\.0\.0\.1:(\d+) and ws:\/\/127\.0\.0\.1:(\d+)\/mqtt/.exec(printed[0]) ?? [];
  expect(Number(port)).toBeGreaterThan(0);
  const ok = await connectMqtt({ url: `mqtt://127.0.0.1:${port}`, username: "pioreactor", password: "s3cret" });
  await ok.end();
  const ws = await connectMqtt({ url: `ws://127.0.0.1:${wsPort}/mqtt`, username: "pioreactor", password: "s3cret" });
  await ws.end();
  await expect(connectMqtt({ url: `mqtt://127.0.0.1:${port}`, username: "pioreactor", password: "raspberry" })).rejects.toThrow(/refused/);
  stop();
  await running;
  expect(printed.at(-1)).toBe("MQTT broker stopped.");
});

test("pio broker on a busy port explains itself", async () => {
  const busy = await startEmbeddedBroker({ port: 0 });
  try {
    const program = new Command().exitOverride();
    registerBrokerCommand(program, {
      brokerDefaults: () => ({ port: busy.port, wsPort: 0, username: "u", password: "p" }),
      print: () => {},
      untilStopped: async () => {},
    });
    await expect(program.parseAsync(["node", "pio", "broker", "--no-ws", "--host", "127.0.0.1"])).rejects.toThrow(
      `Cannot start the broker: 127.0.0.1 port ${busy.port} is already in use (is Mosquitto running?).`,
    );
    await expect(program.parseAsync(["node", "pio", "broker", "--port", "http"])).rejects.toThrow(/is not a port number/);
  } finally {
    await busy.close();
  }
});
