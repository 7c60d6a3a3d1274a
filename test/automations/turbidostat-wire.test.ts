/**
 * The turbidostat on the wire against the original's captures 08 (start-up, then waiting for a
 * biomass reading) and 08b (the first normalized OD above target triggers one dilution; a reading
 * that arrives during it queues one more run, which finds the culture settling and clears
 * `latest_event`). Same topics in the same order, retain flags, QoS and payload bytes (timestamps
 * by format); every payload passes the strict decoders; what stays retained after the job stops
 * matches capture 13. Runs on the embedded broker, and on Mosquitto when MQTT_TEST_BROKER is set.
 */
import { Turbidostat } from "../../src/automations/dosing/turbidostat";
import { withBrokers } from "../helpers/broker";
import { dosingRetainedLines, readCapture, shapeLine, type WireLine } from "./wire-capture";
import { undecodable } from "./wire-decoders";
import { BrokerRig, CAPTURED_PUMPS } from "./wire-rig";

jest.setTimeout(60_000);

const CAPTURE_PREFIX = "pioreactor/leader/exp1/";
const OURS = /^(dosing_automation\/|add_media\/|remove_waste\/|dosing_events$|bioreactor\/|pwms\/dc$|logs\/)/;

function ours(lines: WireLine[], prefix: string): WireLine[] {
  return lines.filter((l) => {
    if (!l.topic.startsWith(prefix)) return false;
    const suffix = l.topic.slice(prefix.length);
    if (!OURS.test(suffix)) return false;
    if (suffix.startsWith("logs/")) return l.payload.includes('"task":"dosing_automation"');
    return true;
  });
}

/** The capture's lines our jobs would publish: from `from` on, without stirring's own pwms/dc. */
function expectedFrom(capture: WireLine[], from: number): string[] {
  const withoutStirring = capture.filter((l, i) => !(l.topic.endsWith("/pwms/dc") && capture[i - 1]?.topic.endsWith("/stirring/duty_cycle")));
  const start = withoutStirring.indexOf(capture[from]);
  return ours(withoutStirring.slice(start), CAPTURE_PREFIX).map((l) => shapeLine(l, CAPTURE_PREFIX));
}

for (const broker of withBrokers()) {
  describe(`turbidostat on the ${broker.name} broker (captures 08, 08b, 13)`, () => {
    const startup = readCapture("08_dosing_turbidostat.txt");
    const trigger = readCapture("08b_dosing_turbidostat_trigger.txt");

    test("start-up, then one dilution triggered by od_filtered, as captured", async () => {
      if (startup.length === 0) return; // captures not available in this checkout
      const expectedStartup = expectedFrom(
        startup,
        startup.findIndex((l) => l.topic === `${CAPTURE_PREFIX}dosing_automation/$state` && l.payload === "init"),
      );
      // 08b starts with the retained replay; its live part follows the last retained line.
      const live = trigger.findIndex((l) => l.topic === `${CAPTURE_PREFIX}experiment_profile/1/action_count`) + 1;
      const expectedTrigger = expectedFrom(trigger, live);
      expect(expectedStartup.length).toBeGreaterThan(15);
      expect(expectedTrigger.length).toBeGreaterThan(30);
      // The normalized ODs growth_rate_calculating published in 08b, replayed in order.
      const odFiltered = trigger
        .slice(live)
        .filter((l) => l.topic === `${CAPTURE_PREFIX}growth_rate_calculating/od_filtered`)
        .map((l) => (JSON.parse(l.payload) as { od_filtered: number }).od_filtered);

      const rig = await new BrokerRig(broker.url, CAPTURED_PUMPS).open();
      try {
        rig.pretendStirringRuns();
        rig.intermittentCache("pwm_dc").set("17", 30.0);
        const job = new Turbidostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "0.5", target_biomass: "0.5" });
        await rig.drive(job.start());
        void job.blockUntilDisconnected();
        await rig.run(40_000);
        const mine = () => ours(rig.published, rig.prefix);
        const atStartup = mine().length;
        expect(mine().map((l) => shapeLine(l, rig.prefix, rig.unit))).toEqual(expectedStartup);

        let next = 0;
        await rig.startBrokerFeeder(5, () => odFiltered[Math.min(next++, odFiltered.length - 1)]);
        await rig.run(26_000);
        expect(
          mine()
            .slice(atStartup)
            .map((l) => shapeLine(l, rig.prefix, rig.unit)),
        ).toEqual(expectedTrigger);
        expect(undecodable(rig.published)).toEqual([]);
        // The broker delivered each message with the QoS it was published with.
        expect(rig.qosMismatches()).toEqual([]);

        await rig.drive(job.stop("test"));
        const retained = await rig.retainedSnapshot(rig.prefix);
        const dosing = dosingRetainedLines(retained, rig.prefix, CAPTURE_PREFIX);
        expect(dosing.ours).toEqual(dosing.capture13);
      } finally {
        await rig.shutdown();
      }
    });
  });
}
