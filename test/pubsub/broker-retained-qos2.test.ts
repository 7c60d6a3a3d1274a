/**
 * Regression: on aedes a persistent-session (clean:false) client subscribing at QoS 2 to a retained
 * topic was disconnected at its PUBREC (moscajs/aedes#1003), so it never got the retained message
 * and its next QoS 2 publish waited ~1.8 s for the reconnect. See src/pubsub/pubrec-fix.ts.
 */
import { startEmbeddedBroker } from "../../src/pubsub/broker";
import type { MqttMessage } from "../../src/pubsub/types";
import { connectTestClient, endAllTestClients, uniqueSuffix } from "../helpers/broker";

afterAll(() => endAllTestClients());

test.each([
  [true, 2],
  [false, 2],
  [false, 1],
] as const)("clean=%s, QoS %s: retained message arrives, the connection stays, the next QoS 2 publish is prompt", async (clean, qos) => {
  const broker = await startEmbeddedBroker({ port: 0 });
  try {
    const root = `pioreactor/u-${uniqueSuffix()}/exp1/stirring`;
    const unit = await connectTestClient(broker.url);
    await unit.publish(`${root}/$state`, "ready", { qos: 2, retain: true });

    const ui = await connectTestClient(broker.url, { clean });
    let disconnects = 0;
    ui.onDisconnect(() => disconnects++);
    const got = new Promise<MqttMessage>((resolve) => {
      void ui.subscribe(`${root}/#`, resolve, { qos });
    });
    let timer: NodeJS.Timeout | undefined;
    const message = await Promise.race([got, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 3000)))]);
    clearTimeout(timer);
    expect(message?.payload.toString()).toBe("ready");
    expect(message?.retain).toBe(true);

    const started = Date.now();
    await ui.publish(`${root}/target_rpm/set`, "300", { qos: 2 });
    expect(Date.now() - started).toBeLessThan(500);
    expect(disconnects).toBe(0);
    expect(ui.isConnected()).toBe(true);
    await Promise.all([ui.end(), unit.end()]);
  } finally {
    await broker.close();
  }
});
