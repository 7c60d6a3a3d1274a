/** The monitor: its own settings as in capture 12, and the bioreactor projection from dosing events. */
import { encodeMsgspecJson } from "../../src/pubsub/codec";
import { decodeVoltage } from "../../src/pubsub/structs";
import { Monitor } from "../../src/jobs/monitor";
import { FAKE_SYSTEM, Rig } from "../automations/helpers/rig";

function dosing(volume: number, event: string, source: string | null = "test") {
  return encodeMsgspecJson({ volume_change: volume, event, source_of_event: source, timestamp: "2026-11-21T05:45:51.275000Z" });
}

test("publishes versions, button_down, network and computer statistics under $experiment", async () => {
  const rig = new Rig();
  try {
    const monitor = await rig.startMonitor();
    await rig.run(1_000, 100);
    const m = (s: string) => rig.bus.log.find((p) => p.topic === `pioreactor/leader/$experiment/monitor/${s}`);
    expect(m("versions")?.payload).toMatch(
      /^\{"app":"26\.7\.2","hat":"1\.2","firmware":"0\.5","hat_serial":"00000000-0000-0000-0000-000000000000","rpi_machine":"","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}$/,
    );
    expect(m("button_down")).toMatchObject({ payload: "False", qos: 2, retain: true });
    expect(m("ipv4")?.payload).toBe("127.0.0.1");
    expect(m("wlan_mac_address")?.payload).toBe("d8:3a:dd:61:01:59");
    expect(m("computer_statistics")?.payload).toMatch(/^\{"available_disk_space":77\.86206817626953,"cpu_temperature_celcius":22,"timestamp":"[^"]+Z"\}$/);
    expect(rig.logs.messages("NOTICE")).toContain("leader is online and ready.");
    // versions/set merges only known keys.
    const ui = rig.bus.connect({ clientIdBase: "ui" });
    await ui.publish("pioreactor/leader/$experiment/monitor/versions/set", '{"app":"26.8.0","junk":"x"}', { qos: 1 });
    await rig.run(100, 50);
    expect(monitor.getSetting<Record<string, unknown>>("versions")).toMatchObject({ app: "26.8.0", hat: "1.2" });
    expect(monitor.getSetting<Record<string, unknown>>("versions")).not.toHaveProperty("junk");
    await monitor.stop("test");
  } finally {
    rig.close();
  }
});

test("projects dosing events onto bioreactor/* with the original's bookkeeping and bounds", async () => {
  const rig = new Rig();
  try {
    const monitor = await rig.startMonitor();
    const pump = rig.bus.connect({ clientIdBase: "pump" });
    const send = async (payload: string, experiment = "exp1") => {
      await pump.publish(`pioreactor/leader/${experiment}/dosing_events`, payload, { qos: 2 });
      await rig.run(10, 10);
    };
    const value = (v: string, experiment = "exp1") => rig.bus.retainedValue(`pioreactor/leader/${experiment}/bioreactor/${v}`);

    await send(dosing(1.0, "add_alt_media"));
    expect(value("current_volume_ml")).toBe("16.0");
    expect(value("alt_media_fraction")).toBe(String(1 / 16));
    expect(value("cumulative_alt_media_added_ml")).toBe("1.0");

    await send(dosing(3.0, "remove_waste"));
    expect(value("current_volume_ml")).toBe("15.0"); // never below the efflux tube
    expect(value("cumulative_waste_removed_ml")).toBe("3.0");
    await send(dosing(1.0, "remove_waste"));
    expect(value("current_volume_ml")).toBe("15.0");

    await send(dosing(1.0, "add_media", "pump_calibration")); // calibrations never count
    expect(value("current_volume_ml")).toBe("15.0");

    await send(dosing(30.0, "add_media")); // 45 mL > 40 mL capacity: refused, nothing changes
    expect(value("current_volume_ml")).toBe("15.0");
    expect(rig.logs.records.some((r) => r.task === "bioreactor" && r.level === "WARNING" && r.message.includes("must be <= 40.0"))).toBe(true);

    await send(dosing(2.0, "add_media"), "exp2"); // other experiments are tracked separately
    expect(value("current_volume_ml", "exp2")).toBe("17.0");
    expect(rig.bioreactor.get("exp1", "current_volume_ml")).toBe(15);

    for (const p of rig.bus.log.filter((x) => x.topic.includes("/bioreactor/"))) expect([p.qos, p.retain]).toEqual([2, true]);
    await monitor.stop("test");
  } finally {
    rig.close();
  }
});

test("voltage_on_pwm_rail is a Voltage struct", async () => {
  const rig = new Rig();
  try {
    const monitor = await new Monitor(rig.deps(), { system: FAKE_SYSTEM, bioreactor: rig.bioreactor, backend: rig.sim.backend, selfCheckIntervalHours: 0 }).start();
    await rig.run(10_000, 1_000);
    const v = rig.bus.log.find((p) => p.topic.endsWith("/monitor/voltage_on_pwm_rail"));
    expect(v && decodeVoltage(v.payload).ok).toBe(true);
    await monitor.stop("test");
  } finally {
    rig.close();
  }
});
