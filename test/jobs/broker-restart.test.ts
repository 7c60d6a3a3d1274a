/**
 * A running job survives a broker restart: it reconnects, re-publishes `$state` and its settings
 * (the original's Mosquitto keeps no retained state across restarts), and `/set` works again.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createSimulatedUnit } from "../../src/hardware/sim/simulated-unit";
import { RpmFromEdges } from "../../src/jobs/rpm";
import { Stirrer } from "../../src/jobs/stirring";
import { startEmbeddedBroker } from "../../src/pubsub/broker";
import { connectMqtt } from "../../src/pubsub/client";
import { RealClock } from "../../src/util/clock";
import { uniqueSuffix } from "../helpers/broker";
import { jobHarness, TopicRecorder } from "../helpers/job-harness";

jest.setTimeout(60_000);

test("stirring reconnects after a broker restart, republishes its state and obeys /set within 5 s", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-restart-"));
  let broker = await startEmbeddedBroker({ port: 0, persistenceFile: path.join(dir, "retained.json") });
  const port = broker.port;
  const unit = `unit${uniqueSuffix()}`;
  const prefix = `pioreactor/${unit}/exp1/`;
  const clock = new RealClock();
  const h = jobHarness({ brokerUrl: broker.url, unit, experiment: "exp1", clock });
  const sim = createSimulatedUnit({ seed: 3, clock });
  const stirrer = new Stirrer(h.deps, {
    backend: sim.backend,
    rpmCalculator: new RpmFromEdges(sim.backend.rpmSensor, clock),
    pwmDutyCycles: h.cache("pwm_dc"),
    pwmLocks: h.cache("pwm_locks"),
  });
  const recorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
  try {
    await stirrer.start();
    await broker.close();
    broker = await startEmbeddedBroker({ port, persistenceFile: path.join(dir, "retained.json") });
    const restartedAt = Date.now();
    recorder.clear();
    await recorder.waitFor((m) => m.topic === `${prefix}stirring/$state` && m.payload === "ready", 10_000);
    await recorder.waitFor((m) => m.topic === `${prefix}stirring/target_rpm` && m.payload === "500.0", 10_000);
    expect(h.logs.messages("INFO")).toContain("Sub client reconnected to the MQTT broker on leader.");

    const commander = await connectMqtt({ url: broker.url, clientIdBase: "commander" });
    await commander.publish(`${prefix}stirring/target_rpm/set`, "321", { qos: 1 });
    await recorder.waitFor((m) => m.topic === `${prefix}stirring/target_rpm` && m.payload === "321.0", 5_000);
    expect(Date.now() - restartedAt).toBeLessThan(5_000);
    await commander.end();
  } finally {
    await stirrer.stop();
    await recorder.end();
    await broker.close();
    h.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
