import { createSimulatedUnit } from "../../../src/hardware/sim";
import { VirtualClock } from "../../../src/util/clock";

describe("simulated ADC inputs read synchronously too", () => {
  test("readRawSync gives what readRaw gives, sample for sample (same noise sequence)", async () => {
    const series = async (sync: boolean) => {
      const clock = new VirtualClock(0);
      const unit = createSimulatedUnit({ seed: 21, clock });
      await unit.backend.ledDriver.setIntensity("A", 80);
      const pd = unit.backend.adc.input("pd2");
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        out.push(sync ? pd.readRawSync!() : await pd.readRaw());
        await clock.advance(25);
      }
      return out;
    };
    const viaSync = await series(true);
    expect(viaSync).toEqual(await series(false));
    expect(new Set(viaSync).size).toBeGreaterThan(1);
  });
});
