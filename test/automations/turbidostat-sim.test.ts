/** A turbidostat on the simulated culture holds OD near its target for a simulated day. */
import { Turbidostat } from "../../src/automations/dosing/turbidostat";
import { decodeDosingEvent } from "../../src/pubsub/structs";
import { Rig } from "./helpers/rig";

test("turbidostat holds OD within ±10 % of target over 24 simulated hours", async () => {
  const rig = new Rig({ initialOd: 0.1, params: { culture: { lagHours: 0 } }, temperatureC: 30 });
  try {
    await rig.startMonitor();
    rig.startFeeder(5);
    const targetNormalized = 2.0; // normalized to the initial OD 0.1 → OD 0.2
    const targetOd = 0.2;
    const job = await new Turbidostat(rig.deps(), rig.dosingContext(), {
      exchange_volume_ml: "1.0",
      target_biomass: String(targetNormalized),
      biomass_signal: "normalized_od",
    }).start();

    // Grow to the target first: the first dilution marks it.
    const diluted = () => rig.bus.log.some((p) => p.topic.endsWith("/latest_event") && p.payload.includes("DilutionEvent"));
    for (let waited = 0; !diluted() && waited < 24 * 3_600_000; waited += 600_000) await rig.run(600_000);
    expect(diluted()).toBe(true);

    const ods: number[] = [];
    for (let i = 0; i < 24 * 12; i++) {
      await rig.run(300_000);
      ods.push(rig.sim.bioreactor.readout().od);
    }
    await job.stop("test");
    await rig.monitor?.stop("test");

    expect(Math.min(...ods)).toBeGreaterThan(targetOd * 0.9);
    expect(Math.max(...ods)).toBeLessThan(targetOd * 1.1);
    const readout = rig.sim.bioreactor.readout();
    expect(readout.spilledMl).toBe(0);
    // The monitor's bookkeeping followed the pumps: the projected and true volumes agree.
    expect(rig.bioreactor.get(rig.experiment, "current_volume_ml")).toBeCloseTo(readout.volumeMl, 1);
    const events = rig.bus.log.filter((p) => p.topic.endsWith("/dosing_events"));
    expect(events.length).toBeGreaterThan(10);
    for (const e of events) expect(decodeDosingEvent(e.payload).ok).toBe(true);
    const media = events.map((e) => JSON.parse(e.payload)).filter((e) => e.event === "add_media").reduce((a, e) => a + e.volume_change, 0);
    expect(rig.bioreactor.get(rig.experiment, "cumulative_media_added_ml")).toBeCloseTo(media, 6);
    expect(readout.cumulativeMediaAddedMl).toBeCloseTo(media, 1);
  } finally {
    rig.close();
  }
}, 120_000);
