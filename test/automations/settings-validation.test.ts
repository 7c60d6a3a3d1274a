/** Out-of-range `/set` values and automation arguments are refused with the allowed range. */
import { Chemostat } from "../../src/automations/dosing/chemostat";
import { Turbidostat } from "../../src/automations/dosing/turbidostat";
import { Thermostat } from "../../src/automations/temperature/thermostat";
import { decodeAutomationSettings, decodeAutomationSettingsJson } from "../../src/pubsub/structs";
import { Rig } from "./helpers/rig";

test("a /set outside the allowed range is refused, logged with the range, and changes nothing", async () => {
  const rig = new Rig();
  try {
    const job = await new Chemostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "0.5", duration: "20", skip_first_run: "1" }).start();
    const ui = rig.bus.connect({ clientIdBase: "ui" });
    await ui.publish("pioreactor/leader/exp1/dosing_automation/exchange_volume_ml/set", "50", { qos: 1 });
    await ui.publish("pioreactor/$broadcast/exp1/dosing_automation/duration/set", "-5", { qos: 1 });
    await rig.run(1_000, 100);
    expect(job.getSetting("exchange_volume_ml")).toBe(0.5);
    expect(job.getSetting("duration")).toBe(20);
    expect(rig.logs.messages("ERROR")).toEqual(
      expect.arrayContaining([
        "exchange_volume_ml must be in 0 < x ≤ 10 mL (got 50).",
        "duration must be greater than 0 minutes (got -5).",
      ]),
    );
    // A valid change goes through and is recorded in the settings history.
    await ui.publish("pioreactor/leader/exp1/dosing_automation/exchange_volume_ml/set", "1.5", { qos: 1 });
    await rig.run(1_000, 100);
    expect(job.getSetting("exchange_volume_ml")).toBe(1.5);
    const history = rig.bus.log.filter((p) => p.topic.endsWith("/dosing_automation_settings"));
    const last = decodeAutomationSettings(history[history.length - 1].payload);
    expect(last.ok && decodeAutomationSettingsJson(last.value.settings)).toEqual({ ok: true, value: { duration: 20, exchange_volume_ml: 1.5, state: "ready" } });
    expect(history.every((p) => p.qos === 2 && !p.retain)).toBe(true);
    await job.stop("test");
  } finally {
    rig.close();
  }
});

test("bad automation arguments fail before the job starts, naming what is allowed", () => {
  const rig = new Rig();
  try {
    expect(() => new Turbidostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "1" })).toThrow("Provide a target biomass: --target-biomass <OD>.");
    expect(() => new Turbidostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "1", target_biomass: "-2" })).toThrow(
      "target_biomass must be greater than 0 (got -2).",
    );
    expect(() => new Chemostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "abc" })).toThrow("--exchange-volume-ml must be a number (got abc).");
    expect(() => new Thermostat(rig.deps(), rig.temperatureContext(), { target_temperature: "95" })).toThrow(
      "target_temperature must be in 0 ≤ x ≤ 78 ℃ (got 95).",
    );
  } finally {
    rig.close();
  }
});

test("the dosing automation refuses to start without pump calibrations", async () => {
  const rig = new Rig({ calibrations: {} });
  try {
    await expect(new Chemostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: "1" }).start()).rejects.toThrow(
      /Media pump calibration must be performed first: run `pio calibrations run --device media_pump`/,
    );
    expect(rig.bus.log).toEqual([]);
  } finally {
    rig.close();
  }
});
