/**
 * The chemostat on the wire against the original's capture 05 (two full dilution cycles): every
 * message of dosing_automation, its pump actions, dosing_events, bioreactor/* and pwms/dc in
 * order, with retain flags, QoS and payload bytes (timestamps compared by format). Then, after
 * the job stops, what stays retained matches capture 13. Runs on the embedded broker, and on
 * Mosquitto when MQTT_TEST_BROKER is set.
 */
import { Chemostat } from "../../src/automations/dosing/chemostat";
import { withBrokers } from "../helpers/broker";
import { dosingRetainedLines, readCapture, shapeLine, type WireLine } from "./wire-capture";
import { undecodable } from "./wire-decoders";
import { BrokerRig, CAPTURED_PUMPS } from "./wire-rig";

jest.setTimeout(60_000);

const CAPTURE_PREFIX = "pioreactor/leader/exp1/";
const OURS = /^(dosing_automation\/|add_media\/|add_alt_media\/|remove_waste\/|dosing_events$|bioreactor\/|pwms\/dc$|logs\/)/;

/** The capture's lines our jobs would publish, from `start` (default: `dosing_automation/$state init`) on. */
function expectedFrom(capture: WireLine[], start = capture.findIndex((l) => l.topic === `${CAPTURE_PREFIX}dosing_automation/$state` && l.payload === "init")): string[] {
  return capture
    .slice(start)
    .filter((l, i, all) => {
      const suffix = l.topic.slice(CAPTURE_PREFIX.length);
      if (!l.topic.startsWith(CAPTURE_PREFIX) || !OURS.test(suffix)) return false;
      if (suffix.startsWith("logs/")) return l.payload.includes('"task":"dosing_automation"');
      // pwms/dc right after stirring/duty_cycle is stirring's own publish.
      if (suffix === "pwms/dc") return all[i - 1]?.topic !== `${CAPTURE_PREFIX}stirring/duty_cycle`;
      return true;
    })
    .map((l) => shapeLine(l, CAPTURE_PREFIX));
}

for (const broker of withBrokers()) {
  describe(`chemostat on the ${broker.name} broker (captures 05, 13)`, () => {
    const capture = readCapture("05_dosing_chemostat.txt");

    test("publishes the capture's messages in order, then leaves the captured retained state", async () => {
      if (capture.length === 0) return; // captures not available in this checkout
      const expected = expectedFrom(capture);
      expect(expected.length).toBeGreaterThan(80);
      const rig = await new BrokerRig(broker.url, CAPTURED_PUMPS).open();
      try {
        rig.pretendStirringRuns();
        // Stirring's duty cycle as the capture's stirring job left it in the shared pwm_dc cache,
        // including its two PID corrections (12 s and 35 s after the automation started).
        const pwmDc = rig.intermittentCache("pwm_dc");
        pwmDc.set("17", 26.02);
        const job = new Chemostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "0.5", duration: "0.5" });
        await rig.drive(job.start());
        rig.clock.setTimeout(() => pwmDc.set("17", 25.5225), 12_000);
        rig.clock.setTimeout(() => pwmDc.set("17", 25.025), 35_000);
        void job.blockUntilDisconnected();
        await rig.run(45_000);
        const ours = rig.published.filter((p) => p.topic.startsWith(rig.prefix) && OURS.test(p.topic.slice(rig.prefix.length)));
        expect(ours.map((l) => shapeLine(l, rig.prefix, rig.unit))).toEqual(expected);
        expect(undecodable(rig.published)).toEqual([]);

        // The broker delivered each message with the QoS it was published with.
        expect(rig.qosMismatches()).toEqual([]);

        // `pio kill` (06): stop requests to the pump actions, `disconnected`, then every setting
        // cleared. The capture's subscriber saw some QoS 0 log lines overtake the QoS 2 messages
        // sent before them (Mosquitto releases QoS 2 on PUBREL), so logs are compared on their own.
        const stopAt = rig.published.length;
        await rig.drive(job.stop("signal Interrupt"));
        const kill = readCapture("06_kill.txt");
        const killFrom = kill.findIndex((l) => l.payload.includes('"message":"Exiting caused by signal Interrupt."') && l.payload.includes('"task":"dosing_automation"'));
        const killTo = kill.findIndex((l) => l.topic === `${CAPTURE_PREFIX}dosing_automation/latest_event` && l.payload === "");
        const killed = expectedFrom(kill.slice(0, killTo + 1), killFrom);
        const stopping = rig.published
          .slice(stopAt)
          .filter((p) => p.topic.startsWith(rig.prefix) && (OURS.test(p.topic.slice(rig.prefix.length)) || p.topic.endsWith("/$state/set")))
          .map((l) => shapeLine(l, rig.prefix, rig.unit));
        const isLog = (l: string) => l.startsWith("logs/");
        expect(stopping.filter(isLog)).toEqual(killed.filter(isLog));
        expect(stopping.filter((l) => !isLog(l))).toEqual(killed.filter((l) => !isLog(l)));

        const retained = await rig.retainedSnapshot(rig.prefix);
        const dosing = dosingRetainedLines(retained, rig.prefix, CAPTURE_PREFIX);
        expect(dosing.ours).toEqual(dosing.capture13);
      } finally {
        await rig.shutdown();
      }
    });
  });
}
