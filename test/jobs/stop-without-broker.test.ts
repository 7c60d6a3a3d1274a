/**
 * A job stopped while its broker is unreachable still stops (within the original's 5 s publish
 * wait) instead of waiting forever for publishes that cannot be delivered.
 */
import { createSimulatedUnit } from "../../src/hardware/sim/simulated-unit";
import { RpmFromEdges } from "../../src/jobs/rpm";
import { Stirrer } from "../../src/jobs/stirring";
import { startEmbeddedBroker } from "../../src/pubsub/broker";
import { RealClock } from "../../src/util/clock";
import { uniqueSuffix } from "../helpers/broker";
import { jobHarness } from "../helpers/job-harness";

jest.setTimeout(30_000);

test("stirring stops within a few seconds after its broker went away", async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  const clock = new RealClock();
  const h = jobHarness({ brokerUrl: broker.url, unit: `unit${uniqueSuffix()}`, experiment: "exp1", clock });
  const sim = createSimulatedUnit({ seed: 5, clock });
  const stirrer = new Stirrer(h.deps, {
    backend: sim.backend,
    rpmCalculator: new RpmFromEdges(sim.backend.rpmSensor, clock),
    pwmDutyCycles: h.cache("pwm_dc"),
    pwmLocks: h.cache("pwm_locks"),
  });
  try {
    await stirrer.start();
    await broker.close();
    const started = Date.now();
    await stirrer.stop("signal Terminated");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stirrer.state).toBe("disconnected");
    expect(h.registry.runningJobId("stirring")).toBeUndefined();
  } finally {
    h.close();
  }
});
