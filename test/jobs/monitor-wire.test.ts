/**
 * The monitor on the wire against the original's capture 12: versions, button_down (set at start
 * and reset by the first self-check), `ready`, network and statistics, `ready` again (the "I'm
 * here" republish), the notice, then the power rail reading and its warning — with retain flags,
 * QoS and payload bytes (timestamps by format, the noisy rail voltage by format). Runs on the
 * embedded broker, and on Mosquitto when MQTT_TEST_BROKER is set.
 */
import { Monitor } from "../../src/jobs/monitor";
import { FAKE_SYSTEM } from "../automations/helpers/rig";
import { readCapture, shapeLine, type WireLine } from "../automations/wire-capture";
import { undecodable } from "../automations/wire-decoders";
import { BrokerRig } from "../automations/wire-rig";
import { withBrokers } from "../helpers/broker";

jest.setTimeout(60_000);

const CAPTURE_PREFIX = "pioreactor/leader/$experiment/";

/** The rail voltage is a noisy ADC reading near 0 V: compare its format, not its digits. */
function withoutRailNoise(line: string): string {
  return line
    .replace(/"voltage":\d+\.\d+/, '"voltage":<float>')
    .replace(/PWM power supply at ~\d+\.\d\dV\./, "PWM power supply at ~<.2f>V.");
}

/**
 * The original logs a Python traceback here (no `lgpio` module in its testing mode); a unit
 * without LED and button has nothing comparable to say.
 */
const isPythonTraceback = (l: WireLine) => l.payload.includes("Skipping LED / button controls: setup failed.");

for (const broker of withBrokers()) {
  describe(`monitor on the ${broker.name} broker (capture 12)`, () => {
    const capture = readCapture("12_monitor.txt");

    test("publishes the capture's start-up sequence and power check", async () => {
      if (capture.length === 0) return; // captures not available in this checkout
      const start = capture.findIndex((l) => l.topic === `${CAPTURE_PREFIX}monitor/$state` && l.payload === "init");
      const expected = capture
        .slice(start)
        .filter((l) => l.topic.startsWith(CAPTURE_PREFIX) && !isPythonTraceback(l))
        .map((l) => withoutRailNoise(shapeLine(l, CAPTURE_PREFIX)));
      expect(expected.length).toBeGreaterThan(20);

      // The captured leader has a HAT whose AUX rail reads 0 V (nothing plugged in).
      const rig = await new BrokerRig(broker.url, { experiment: "$experiment", params: { auxRailVolts: 0 } }).open();
      try {
        const monitor = new Monitor(rig.deps(), { system: FAKE_SYSTEM, bioreactor: rig.bioreactor, backend: rig.sim.backend });
        await rig.drive(monitor.start());
        await rig.run(6_000);
        const ours = rig.published.filter((p) => p.topic.startsWith(rig.prefix));
        expect(ours.map((l) => withoutRailNoise(shapeLine(l, rig.prefix, rig.unit)))).toEqual(expected);
        expect(undecodable(rig.published)).toEqual([]);
        // The broker delivered each message with the QoS it was published with.
        expect(rig.qosMismatches()).toEqual([]);

        // A pump's dosing event (as in 05) is projected onto bioreactor/* in the original's order,
        // retained at QoS 2 as Python floats, like the values dosing automations seed (05).
        const pump = await rig.connectRecorded({ clientIdBase: "add_media" });
        const event = '{"volume_change":0.5,"event":"add_media","source_of_event":"dosing_automation:chemostat","timestamp":"2026-11-21T05:45:51.275000Z"}';
        await pump.publish(`pioreactor/${rig.unit}/exp1/dosing_events`, event, { qos: 2 });
        await rig.run(100);
        const bioreactor = rig.published.filter((p) => p.topic.startsWith(`pioreactor/${rig.unit}/exp1/bioreactor/`));
        expect(bioreactor.map((l) => shapeLine(l, `pioreactor/${rig.unit}/exp1/`))).toEqual([
          "bioreactor/alt_media_fraction r=1 q=2 0.0",
          "bioreactor/current_volume_ml r=1 q=2 15.5",
          "bioreactor/cumulative_media_added_ml r=1 q=2 0.5",
          "bioreactor/cumulative_alt_media_added_ml r=1 q=2 0.0",
          "bioreactor/cumulative_waste_removed_ml r=1 q=2 0.0",
        ]);
        expect(undecodable(bioreactor)).toEqual([]);

        // Stopped, it leaves only `monitor/$state disconnected` retained (13).
        await rig.drive(monitor.stop("test"));
        const retained = await rig.retainedSnapshot(rig.prefix);
        const end = readCapture("13_retained_snapshot_end.txt").filter((l) => l.topic.startsWith(`${CAPTURE_PREFIX}monitor/`));
        expect([...retained].map(([t, v]) => `${t.slice(rig.prefix.length)} ${v}`)).toEqual(
          end.map((l) => `${l.topic.slice(CAPTURE_PREFIX.length)} ${l.payload}`),
        );
      } finally {
        await rig.shutdown();
      }
    });
  });
}
