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

test("adjustGainForSync picks and applies the gain adjustGainFor would", async () => {
  const pick = async (sync: boolean) => {
    const clock = new VirtualClock(0);
    const unit = createSimulatedUnit({ seed: 3, clock });
    const ref = unit.backend.adc.input("pd1");
    const out: Array<[boolean, number]> = [];
    for (const volts of [0.05, 0.05, 0.4, 3.0, 5.5, 0.2]) {
      const changed = sync ? ref.adjustGainForSync!(volts) : await ref.adjustGainFor(volts);
      out.push([changed, ref.gain]);
    }
    return out;
  };
  const viaSync = await pick(true);
  expect(viaSync).toEqual(await pick(false));
  expect(viaSync[0]).toEqual([true, 16]);
  expect(viaSync[1]).toEqual([false, 16]);
});
