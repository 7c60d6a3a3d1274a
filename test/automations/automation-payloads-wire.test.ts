/**
 * Automations without a capture of their own (fed_batch, pid_morbidostat, thermostat) on the
 * embedded broker (and Mosquitto when MQTT_TEST_BROKER is set): every payload they publish —
 * dosing events, automation events, settings history, computed temperature, pwms/dc, logs —
 * passes the strict decoders written from the spec's struct catalogue, and settings carry the
 * original's encodings (Python floats, job states).
 */
import { FedBatch } from "../../src/automations/dosing/fed-batch";
import { PidMorbidostat } from "../../src/automations/dosing/pid-morbidostat";
import { twoNodeCoolingModel } from "../../src/automations/temperature/inference";
import { Thermostat } from "../../src/automations/temperature/thermostat";
import { withBrokers } from "../helpers/broker";
import { undecodable, wireProblem } from "./wire-decoders";
import { BrokerRig } from "./wire-rig";

jest.setTimeout(120_000);

/** Leaf topic names published with a non-empty payload, to show the check was not vacuous. */
function leaves(rig: BrokerRig): Set<string> {
  return new Set(rig.published.filter((p) => p.payload !== "").map((p) => p.topic.slice(rig.prefix.length)));
}

test("the payload checks refuse what the original would never send", () => {
  const t = (leaf: string) => `pioreactor/leader/exp1/${leaf}`;
  expect(wireProblem(t("bioreactor/current_volume_ml"), "15")).toMatch(/Python float/);
  expect(wireProblem(t("dosing_automation/duration"), "0.5")).toBeUndefined();
  expect(wireProblem(t("dosing_automation/latest_event"), '{"event_name":"Dilution","message":null,"data":null}')).toMatch(/event_name/);
  expect(wireProblem(t("dosing_events"), '{"volume_change":"0.5","event":"add_media","source_of_event":null,"timestamp":"2026-11-21T05:45:51.275000Z"}')).toMatch(
    /volume_change/,
  );
  expect(wireProblem(t("temperature_automation/temperature"), '{"timestamp":"2026-11-21T05:45:51","temperature":30.0}')).toMatch(/timestamp/);
  expect(wireProblem(t("monitor/button_down"), "false")).toMatch(/bool/);
  expect(wireProblem(t("pid_log/rpm"), '{"Kp":0.1}')).toMatch(/pid_log keys/);
});

for (const broker of withBrokers()) {
  describe(`automation payloads on the ${broker.name} broker`, () => {
    test("fed_batch: dosing events, AddMediaEvent and settings decode", async () => {
      const rig = await new BrokerRig(broker.url).open();
      try {
        rig.pretendStirringRuns();
        const job = new FedBatch(rig.deps(), rig.dosingContext(), { dosing_volume_ml: "0.5", duration: "1" });
        await rig.drive(job.start());
        await rig.run(130_000);
        await rig.drive(job.stop("test"));
        expect(undecodable(rig.published)).toEqual([]);
        const seen = leaves(rig);
        for (const t of ["dosing_events", "dosing_automation/latest_event", "dosing_automation/dosing_automation_settings", "dosing_automation/dosing_volume_ml"]) {
          expect([t, seen.has(t)]).toEqual([t, true]);
        }
        expect(rig.published.some((p) => p.topic.endsWith("/latest_event") && p.payload.includes('"AddMediaEvent"'))).toBe(true);
      } finally {
        await rig.shutdown();
      }
    });

    test("pid_morbidostat: events and settings decode", async () => {
      const rig = await new BrokerRig(broker.url).open();
      try {
        rig.pretendStirringRuns();
        await rig.startBrokerFeeder(5, () => 1.2);
        const job = new PidMorbidostat(rig.deps(), rig.dosingContext(), { target_growth_rate: "2", target_normalized_od: "0.5", duration: "1" });
        await rig.drive(job.start());
        await rig.run(130_000);
        await rig.drive(job.stop("test"));
        expect(undecodable(rig.published)).toEqual([]);
        const events = rig.published.filter((p) => p.topic === `${rig.prefix}dosing_automation/latest_event` && p.payload !== "");
        expect(events.length).toBeGreaterThan(0);
        expect(leaves(rig).has("dosing_events")).toBe(true);
      } finally {
        await rig.shutdown();
      }
    });

    test("thermostat: computed temperature, UpdatedHeaterDC and settings decode", async () => {
      const rig = await new BrokerRig(broker.url).open();
      try {
        const model = twoNodeCoolingModel(rig.sim.bioreactor.params().thermal);
        const job = new Thermostat(rig.deps(), rig.temperatureContext({ vialTemperatureModel: model }), { target_temperature: "30" });
        await rig.drive(job.start());
        await rig.run(12 * 60_000);
        await rig.drive(job.stop("test"));
        expect(undecodable(rig.published)).toEqual([]);
        const seen = leaves(rig);
        for (const t of ["temperature_automation/temperature", "temperature_automation/latest_event", "temperature_automation/temperature_automation_settings"]) {
          expect([t, seen.has(t)]).toEqual([t, true]);
        }
      } finally {
        await rig.shutdown();
      }
    });
  });
}
