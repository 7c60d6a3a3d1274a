/**
 * `stirring` on the wire, against the original's captures 01_stirring_start, 01b (retained
 * snapshot) and 02_stirring_set: same topics, order, payload bytes and QoS (timestamps and measured
 * values aside). Runs on the embedded broker, and on Mosquitto when MQTT_TEST_BROKER is set.
 */
import { createSimulatedUnit } from "../../src/hardware/sim/simulated-unit";
import { RpmFromEdges } from "../../src/jobs/rpm";
import { Stirrer } from "../../src/jobs/stirring";
import { connectMqtt } from "../../src/pubsub/client";
import { RealClock } from "../../src/util/clock";
import { uniqueSuffix, withBrokers } from "../helpers/broker";
import { type Harness, jobHarness, TopicRecorder, sleep } from "../helpers/job-harness";

jest.setTimeout(60_000);

/**
 * Mosquitto forwards a publisher's messages in the order sent. The embedded broker (aedes) stores
 * QoS 1/2 messages before forwarding them, so a later QoS 0 message (`pwms/dc`) can overtake them;
 * MQTT only promises order within one QoS level. There we compare each level's sequence on its own.
 */
function expectSequence(brokerName: string, actual: string[], expected: string[]): void {
  if (brokerName !== "embedded") {
    expect(actual).toEqual(expected);
    return;
  }
  const isPwm = (line: string) => line.startsWith("pwms/");
  expect(actual.filter(isPwm)).toEqual(expected.filter(isPwm));
  expect(actual.filter((l) => !isPwm(l))).toEqual(expected.filter((l) => !isPwm(l)));
}

function makeStirrer(h: Harness, clock: RealClock, seed = 7) {
  const sim = createSimulatedUnit({ seed, clock });
  const stirrer = new Stirrer(
    h.deps,
    {
      backend: sim.backend,
      rpmCalculator: new RpmFromEdges(sim.backend.rpmSensor, clock),
      pwmDutyCycles: h.cache("pwm_dc"),
      pwmLocks: h.cache("pwm_locks"),
    },
    {},
  );
  return { stirrer, sim };
}

for (const broker of withBrokers()) {
  describe(`stirring on the ${broker.name} broker`, () => {
    let h: Harness;
    let recorder: TopicRecorder;
    let unit: string;
    let prefix: string;
    const clock = new RealClock();

    beforeEach(async () => {
      unit = `unit${uniqueSuffix()}`;
      prefix = `pioreactor/${unit}/exp1/`;
      h = jobHarness({ brokerUrl: broker.url, unit, experiment: "exp1", clock });
      recorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
    });

    afterEach(async () => {
      await recorder.end();
      h.close();
    });

    test("start-up publishes the captured sequence, then the retained snapshot matches 01b", async () => {
      const { stirrer } = makeStirrer(h, clock);
      const qosRecorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`, 2);
      try {
        await startAndCheck(stirrer, qosRecorder);
      } finally {
        await qosRecorder.end();
        await stirrer.stop();
      }
    });

    async function startAndCheck(stirrer: Stirrer, qosRecorder: TopicRecorder): Promise<void> {
      await stirrer.start();
      await recorder.waitFor((m) => m.topic.endsWith("/stirring/$state") && m.payload === "ready");
      expectSequence(broker.name, recorder.sequence(prefix), [
        "stirring/$state init",
        "stirring/currently_dodging_od False",
        "stirring/enable_dodging_od False",
        "pwms/dc {}",
        "stirring/target_rpm 500.0",
        "stirring/enable_dodging_od False",
        "stirring/currently_dodging_od False",
        "stirring/duty_cycle 100",
        'pwms/dc {"17": 100.0}',
        "stirring/duty_cycle 30.0",
        'pwms/dc {"17": 30.0}',
        "stirring/$state ready",
      ]);
      // Every setting is published at QoS 2; the pwms/dc summary at QoS 0.
      await qosRecorder.waitFor((m) => m.topic.endsWith("/stirring/$state") && m.payload === "ready");
      for (const m of qosRecorder.messages.filter((x) => x.topic.includes("/stirring/"))) expect(m.qos).toBe(2);
      for (const m of qosRecorder.messages.filter((x) => x.topic.endsWith("/pwms/dc"))) expect(m.qos).toBe(0);
      // The log lines of 01, in order (the "blocking until" lines come from the CLI).
      expect(h.logs.messages().slice(0, 7)).toEqual([
        "Init.",
        "Operating with RPM feedback loop.",
        "Initialized GPIO-17 using software-timing, initial frequency = 200.0 hz.",
        "Dodging disabled; running continuously.",
        "Starting initialize_continuous_operation",
        "Finished initialize_continuous_operation",
        "Ready.",
      ]);
      // The log lines reach MQTT with the original's JSON layout.
      const ready = await recorder.waitFor((m) => m.topic === `${prefix}logs/app/info` && m.payload.includes('"Ready."'));
      expect(ready.payload).toMatch(
        /^\{"taskName":null,"source":"app","task":"stirring","message":"Ready\.","level":"INFO","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}$/,
      );

      // Retained snapshot as a late subscriber sees it (01b).
      const late = await TopicRecorder.start(broker.url, `${prefix}#`);
      await sleep(300);
      const retained = new Map(late.messages.filter((m) => m.retain).map((m) => [m.topic.slice(prefix.length), m.payload]));
      await late.end();
      expect(retained.get("stirring/$state")).toBe("ready");
      expect(retained.get("stirring/currently_dodging_od")).toBe("False");
      expect(retained.get("stirring/enable_dodging_od")).toBe("False");
      expect(retained.get("stirring/target_rpm")).toBe("500.0");
      expect(retained.get("stirring/duty_cycle")).toBe("30.0");
      expect(retained.get("pwms/dc")).toBe('{"17": 30.0}');

      // The registry holds the job and its settings for `pio jobs` and the unit API.
      const id = h.registry.runningJobId("stirring");
      expect(id).toBe(stirrer.jobId);
      expect(h.registry.settingsOfRunningJob("stirring")).toMatchObject({ $state: "ready", target_rpm: 500, duty_cycle: 30 });

      await stirrer.stop("signal Interrupt");
      await recorder.waitFor((m) => m.topic.endsWith("/stirring/currently_dodging_od") && m.payload === "");
      const tail = recorder.sequence(prefix, recorder.messages.findIndex((m) => m.payload === "disconnected"));
      expect(tail).toEqual([
        "stirring/$state disconnected",
        "stirring/target_rpm",
        "stirring/duty_cycle",
        "stirring/enable_dodging_od",
        "stirring/currently_dodging_od",
      ]);
      expect(h.registry.runningJobId("stirring")).toBeUndefined();
    }

    test("/set on the unit and on $broadcast, sleeping and ready, and a bad value (02)", async () => {
      const { stirrer } = makeStirrer(h, clock);
      await stirrer.start();
      const commander = await connectMqtt({ url: broker.url, clientIdBase: "test-commander" });
      try {
        recorder.clear();
        await commander.publish(`${prefix}stirring/target_rpm/set`, "300", { qos: 1 });
        await recorder.waitFor((m) => m.topic.endsWith("/stirring/target_rpm") && m.payload === "300.0");
        await commander.publish(`pioreactor/$broadcast/exp1/stirring/target_rpm/set`, "400.5", { qos: 1 });
        await recorder.waitFor((m) => m.topic.endsWith("/stirring/target_rpm") && m.payload === "400.5");
        await stirrer.flush();
        // A /set republishes duty_cycle and pwms/dc (02); the QoS 0 pwms/dc may still be on its
        // way after the flush, and must not land in the next sequence.
        const after400 = recorder.messages.findIndex((m) => m.topic.endsWith("/stirring/target_rpm") && m.payload === "400.5");
        await recorder.waitFor((m) => m.topic.endsWith("/pwms/dc") && recorder.messages.indexOf(m) > after400);
        expect(h.logs.messages("INFO")).toEqual(
          expect.arrayContaining([
            "Updated target_rpm from 500.0 RPM to 300.0 RPM.",
            "Updated target_rpm from 300.0 RPM to 400.5 RPM.",
          ]),
        );

        recorder.clear();
        await commander.publish(`${prefix}stirring/$state/set`, "sleeping", { qos: 1 });
        await recorder.waitFor((m) => m.topic.endsWith("/stirring/$state") && m.payload === "sleeping");
        const sleeping = recorder.sequence(prefix).filter((l) => !l.startsWith("stirring/$state/set"));
        expectSequence(broker.name, sleeping.map((l) => l.replace(/"timestamp":"[^"]+"/, '"timestamp":T')), [
          "stirring/duty_cycle 0.0",
          "pwms/dc {}",
          'stirring/measured_rpm {"measured_rpm":0,"timestamp":T}',
          "stirring/$state sleeping",
        ]);

        recorder.clear();
        await commander.publish(`${prefix}stirring/$state/set`, "ready", { qos: 1 });
        await recorder.waitFor((m) => m.topic.endsWith("/stirring/$state") && m.payload === "ready");
        expectSequence(broker.name, recorder.sequence(prefix).filter((l) => !l.startsWith("stirring/$state/set")), [
          "stirring/duty_cycle 30.0",
          "stirring/duty_cycle 100",
          'pwms/dc {"17": 100.0}',
          "stirring/duty_cycle 30.0",
          'pwms/dc {"17": 30.0}',
          "stirring/$state ready",
        ]);
        expect(h.logs.messages("INFO")).toEqual(
          expect.arrayContaining(["Updated state from ready to sleeping.", "Updated state from sleeping to ready."]),
        );

        await commander.publish(`${prefix}stirring/target_rpm/set`, "notanumber", { qos: 1 });
        await recorder.waitFor((m) => m.topic === `${prefix}logs/app/error`);
        expect(h.logs.messages("ERROR")).toContain("could not convert string to float: b'notanumber'");
        expect(stirrer.targetRpm).toBe(400.5);

        // Read-only settings are refused with the original's warning.
        await commander.publish(`${prefix}stirring/measured_rpm/set`, "1", { qos: 1 });
        await recorder.waitFor((m) => m.topic === `${prefix}logs/app/warning`);
        expect(h.logs.messages("WARNING")).toContain("Unable to set `measured_rpm` in stirring. `measured_rpm` is read-only.");

      } finally {
        await commander.end();
        await stirrer.stop();
      }
    });

    test("a retained /set left on the broker is not applied when the job starts", async () => {
      const commander = await connectMqtt({ url: broker.url, clientIdBase: "test-commander" });
      await commander.publish(`${prefix}stirring/target_rpm/set`, "123", { qos: 1, retain: true });
      const { stirrer } = makeStirrer(h, clock);
      try {
        await stirrer.start();
        await sleep(300);
        expect(stirrer.targetRpm).toBe(500);
      } finally {
        await commander.publish(`${prefix}stirring/target_rpm/set`, "", { qos: 1, retain: true });
        await commander.end();
        await stirrer.stop();
      }
    });

    test("a second stirring on the same unit is refused while the first runs", async () => {
      const { stirrer } = makeStirrer(h, clock);
      await stirrer.start();
      try {
        const { stirrer: second } = makeStirrer(h, clock, 8);
        await expect(second.start()).rejects.toThrow(`stirring is already running (job_id=${stirrer.jobId}). Skipping.`);
      } finally {
        await stirrer.stop();
      }
    });

    test("$state/set disconnected stops the job and clears its settings", async () => {
      const { stirrer } = makeStirrer(h, clock);
      await stirrer.start();
      const commander = await connectMqtt({ url: broker.url, clientIdBase: "test-commander" });
      await commander.publish(`${prefix}stirring/$state/set`, "disconnected", { qos: 1 });
      await commander.end();
      await stirrer.disconnectedPromise;
      await recorder.waitFor((m) => m.topic.endsWith("/stirring/target_rpm") && m.payload === "");
      expect(h.registry.runningJobId("stirring")).toBeUndefined();
    });
  });
}
