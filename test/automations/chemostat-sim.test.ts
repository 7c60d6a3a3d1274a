/** A chemostat settles where its dilution rate says: at steady state the culture grows at μ = D. */
import { Chemostat } from "../../src/automations/dosing/chemostat";
import { Rig } from "./helpers/rig";

test("chemostat steady state: growth rate equals the dilution rate", async () => {
  const rig = new Rig({ initialOd: 0.2, params: { culture: { lagHours: 0 } }, temperatureC: 30 });
  try {
    await rig.startMonitor();
    const exchangeMl = 0.5;
    const durationMin = 10;
    const job = await new Chemostat(rig.deps(), rig.dosingContext(), { exchange_volume_ml: String(exchangeMl), duration: String(durationMin) }).start();
    await rig.run(72 * 3_600_000, 3_600_000);

    // Each exchange dilutes the 15 mL culture by 15/15.5, `60/duration` times an hour.
    const dilutionRatePerHour = Math.log((15 + exchangeMl) / 15) * (60 / durationMin);
    const samples: number[] = [];
    const ods: number[] = [];
    for (let i = 0; i < 12; i++) {
      await rig.run(durationMin * 60_000, durationMin * 60_000);
      samples.push(rig.sim.bioreactor.readout().growthRatePerHour);
      ods.push(rig.sim.bioreactor.readout().od);
    }
    await job.stop("test");
    await rig.monitor?.stop("test");
    const meanMu = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(meanMu).toBeGreaterThan(dilutionRatePerHour * 0.95);
    expect(meanMu).toBeLessThan(dilutionRatePerHour * 1.05);
    // And the OD is steady: no drift over the last two hours.
    expect(Math.abs(ods[ods.length - 1] - ods[0]) / ods[0]).toBeLessThan(0.03);
    expect(rig.sim.bioreactor.readout().spilledMl).toBe(0);
  } finally {
    rig.close();
  }
}, 120_000);
