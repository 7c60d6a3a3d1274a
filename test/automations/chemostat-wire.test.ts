/**
 * The chemostat's MQTT traffic against the original's capture 05: same topics in the same order,
 * same retain flags and QoS, same payload bytes (timestamps aside), and every struct decodes.
 */
import { linearPumpCalibration } from "../../src/actions/pump-calibration";
import { Chemostat } from "../../src/automations/dosing/chemostat";
import { decodeAutomationEvent, decodeAutomationSettings, decodeAutomationSettingsJson, decodeDosingEvent } from "../../src/pubsub/structs";
import { Rig } from "./helpers/rig";
import { normalise, readCapture, type WireLine } from "./wire-capture";

const PREFIX = "pioreactor/leader/exp1/";
const COMPARED = /^(dosing_automation\/|add_media\/|remove_waste\/|dosing_events$|bioreactor\/)/;

function relevant(lines: WireLine[]): string[] {
  return lines
    .filter((l) => l.topic.startsWith(PREFIX) && COMPARED.test(l.topic.slice(PREFIX.length)))
    .map((l) => `${l.topic.slice(PREFIX.length)} r=${l.retain ? 1 : 0} q=${l.qos} ${normalise(l.payload)}`.trimEnd());
}

describe("chemostat on the wire (capture 05)", () => {
  const capture = readCapture("05_dosing_chemostat.txt");
  const start = capture.findIndex((l) => l.topic === `${PREFIX}dosing_automation/$state` && l.payload === "init");
  const firstDilution = capture.findIndex((l) => l.topic === `${PREFIX}dosing_automation/latest_event` && l.payload.includes("DilutionEvent"));
  const expected = relevant(capture.slice(start, firstDilution + 1));

  test("matches the original topic by topic through the first dilution", async () => {
    if (capture.length === 0) return; // capture not available in this checkout
    expect(expected.length).toBeGreaterThan(25);
    // The capture's pumps were calibrated at 100 Hz, 60 % duty, 1 mL/s; the simulator agrees.
    const rig = new Rig({
      pumpMlPerSecondAtFullDuty: 1 / 0.6,
      calibrations: {
        media_pump: linearPumpCalibration("media", 1, 60, 100),
        waste_pump: linearPumpCalibration("waste", 1, 60, 100),
      },
    });
    try {
      const job = await new Chemostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "0.5", duration: "0.5" }).start();
      await rig.run(20_000, 500);
      await job.stop("test");
      const ours = rig.bus.log.map((p) => ({ topic: p.topic, retain: p.retain, qos: p.qos, payload: p.payload }));
      const got = relevant(ours);
      const cut = got.findIndex((l) => l.startsWith("dosing_automation/latest_event") && l.includes("DilutionEvent"));
      expect(got.slice(0, cut + 1)).toEqual(expected);

      for (const p of rig.bus.log) {
        if (p.topic.endsWith("/dosing_events")) expect(decodeDosingEvent(p.payload).ok).toBe(true);
        if (p.topic.endsWith("/latest_event") && p.payload) expect(decodeAutomationEvent(p.payload)).toMatchObject({ ok: true });
        if (p.topic.endsWith("/dosing_automation_settings")) {
          const d = decodeAutomationSettings(p.payload);
          expect(d.ok).toBe(true);
          if (d.ok) expect(decodeAutomationSettingsJson(d.value.settings).ok).toBe(true);
        }
      }
      // pwms/dc carries the media pump's pin (GPIO 13) at the calibrated 60 % while it runs.
      expect(rig.bus.log.some((p) => p.topic === `${PREFIX}pwms/dc` && p.payload === '{"13": 60.0}' && p.retain && p.qos === 0)).toBe(true);
    } finally {
      rig.close();
    }
  });
});
