import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { I2cError } from "../../../src/hardware/errors";
import { createSimulatedUnit, MemorySimStateStore, SimulatedBioreactor } from "../../../src/hardware/sim";
import { Random } from "../../../src/hardware/sim/random";
import { VirtualClock } from "../../../src/util/clock";

async function readSeries(seed: number, n = 100): Promise<number[]> {
  const clock = new VirtualClock(0);
  const unit = createSimulatedUnit({ seed, clock });
  await unit.backend.ledDriver.setIntensity("A", 80);
  const pd = unit.backend.adc.input("pd2");
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await pd.readRaw());
    await clock.advance(25);
  }
  return out;
}

describe("determinism", () => {
  test("same seed → identical readings; different seed → different noise", async () => {
    const a = await readSeries(42);
    const b = await readSeries(42);
    const c = await readSeries(43);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x) / xs.length;
    // Same culture, different noise: the means agree closely.
    expect(Math.abs(mean(a) - mean(c)) / mean(a)).toBeLessThan(0.02);
  });

  test("the PRNG is uniform-ish and its normals have unit variance", () => {
    const r = new Random(1);
    let s = 0;
    let s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
    const copy = new Random(r.state());
    expect([copy.next(), copy.normal()]).toEqual([r.next(), r.normal()]);
    // One normal of a pair is left over: it is part of the state too.
    expect(r.state().spare).not.toBeNull();
    const withSpare = new Random(r.state());
    expect([withSpare.normal(), withSpare.normal(), withSpare.next()]).toEqual([r.normal(), r.normal(), r.next()]);
    expect(withSpare.state()).toEqual(r.state());
  });
});

describe("serialisation and sharing between processes", () => {
  test("state survives toJSON/fromJSON: both copies continue identically", () => {
    const clock = new VirtualClock(0);
    const unit = createSimulatedUnit({ seed: 5, clock });
    const original = SimulatedBioreactor.fromJSON(unit.bioreactor.toJSON());
    original.setLed("A", 80);
    original.setDutyCycle(17, 30);
    original.advanceTo(3_600_000);
    original.readAdcVolts("pd2");
    const saved = original.toJSON();
    // The AR(1) noise residual of each photodiode read is saved with the state.
    expect(Object.keys(saved.state.noise)).toEqual(["pd2"]);
    expect(saved.state.noise.pd2).not.toBe(0);
    const restored = SimulatedBioreactor.fromJSON(JSON.parse(JSON.stringify(saved)));
    for (const b of [original, restored]) b.advanceTo(7_200_000);
    expect(restored.readout()).toEqual(original.readout());
    const seqA = Array.from({ length: 20 }, () => original.readAdcVolts("pd2"));
    const seqB = Array.from({ length: 20 }, () => restored.readAdcVolts("pd2"));
    expect(seqB).toEqual(seqA);
    expect(() => SimulatedBioreactor.fromJSON({} as never)).toThrow(/not a simulated bioreactor snapshot/);
  });

  test("two 'processes' share one culture through a state directory", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-"));
    try {
      const clock = new VirtualClock(0);
      const stirringJob = createSimulatedUnit({ seed: 9, clock, unitName: "worker1", store: dir });
      const odJob = createSimulatedUnit({ seed: 9, clock, unitName: "worker1", store: dir });

      const pwm = stirringJob.backend.pwm("1", 200);
      await pwm.start(30);
      await clock.advance(10_000);
      expect(odJob.bioreactor.readout().rpm).toBeCloseTo(500, 0);

      await odJob.backend.ledDriver.setIntensity("A", 80);
      expect(stirringJob.bioreactor.readout().leds.A).toBe(80);
      odJob.faults.stallStirrer();
      await clock.advance(10_000);
      expect(stirringJob.bioreactor.readout().rpm).toBeLessThan(1);

      expect(fs.readdirSync(dir)).toEqual(["worker1.bioreactor.json"]);
      const saved = JSON.parse(fs.readFileSync(path.join(dir, "worker1.bioreactor.json"), "utf8"));
      expect(saved.format).toBe("pioreactor-ts/simulated-bioreactor");
      expect(saved.state.revision).toBeGreaterThan(3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a memory store gives the same sharing inside one process", async () => {
    const clock = new VirtualClock(0);
    const store = new MemorySimStateStore();
    const a = createSimulatedUnit({ seed: 1, clock, unitName: "u", store });
    const b = createSimulatedUnit({ seed: 1, clock, unitName: "u", store });
    a.bioreactor.addMedia(2);
    expect(b.bioreactor.readout().volumeMl).toBe(17);
  });
});

describe("sensors look like the real chips", () => {
  test("40 ml v1.5: ADS1114 photodiodes in raw counts with gain; REF tracks IR intensity; dark when IR is off", async () => {
    const clock = new VirtualClock(0);
    const unit = createSimulatedUnit({ seed: 3, clock });
    const ref = unit.backend.adc.input("pd1");
    expect(ref.driver).toBe("ads1114");
    await unit.backend.ledDriver.setIntensity("A", 0);
    expect(await ref.readVolts()).toBeLessThan(0.005);
    await unit.backend.ledDriver.setIntensity("A", 80);
    const v80 = await ref.readVolts();
    expect(v80).toBeGreaterThan(0.08);
    expect(v80).toBeLessThan(0.12);
    await unit.backend.ledDriver.setIntensity("A", 40);
    const v40 = await ref.readVolts();
    expect(v40 / v80).toBeCloseTo(0.5, 1);
    const rawGain1 = await ref.readRaw();
    expect(await ref.adjustGainFor(v40)).toBe(true);
    expect(ref.gain).toBe(16);
    const rawGain16 = await ref.readRaw();
    expect(rawGain16 / rawGain1).toBeGreaterThan(14);
    expect(ref.rawToVolts(rawGain16)).toBeCloseTo(v40, 2);
  });

  test("HAT-only models read photodiodes through the MCU ADC; AUX sees the 5 V rail through its divider", async () => {
    const clock = new VirtualClock(0);
    const unit = createSimulatedUnit({ seed: 3, clock, model: { name: "pioreactor_20ml", version: "1.1" } });
    const pd2 = unit.backend.adc.input("pd2");
    expect(pd2.driver).toBe("pico");
    expect(pd2.hasGain).toBe(false);
    const aux = await unit.backend.adc.input("aux").readVolts();
    expect(aux / 0.134).toBeCloseTo(5.1, 1);
    expect(await unit.backend.eeprom.readFirmwareVersion()).toEqual([0, 5]);
    expect((await unit.backend.eeprom.readHat())?.hatVersion).toBe("1.2");
  });

  test("photodiode angles: scatter rises with OD, 180° transmission falls", async () => {
    const readings = async (od: number) => {
      const clock = new VirtualClock(0);
      const unit = createSimulatedUnit({
        seed: 1,
        clock,
        model: { name: "pioreactor_40ml_XR", version: "1.5" },
        photodiodes: { "1": "REF", "2": "90", "3": "135", "4": "180" },
        initial: { od },
        params: { optics: { relativeNoise: 0, spikeProbability: 0, absoluteNoiseVolts: 0 } },
      });
      await unit.backend.ledDriver.setIntensity("A", 80);
      const v = async (n: string) => unit.backend.adc.input(n).readVolts();
      return { p90: await v("pd2"), p135: await v("pd3"), p180: await v("pd4") };
    };
    const low = await readings(0.1);
    const high = await readings(1.0);
    expect(high.p90).toBeGreaterThan(3 * low.p90);
    expect(high.p135).toBeGreaterThan(low.p135);
    expect(high.p180).toBeLessThan(low.p180);
    expect(low.p90).toBeLessThan(low.p180);
  });
});

describe("fault injection", () => {
  test("I²C errors make reads throw like an unanswered device, and presence probes fail", async () => {
    const clock = new VirtualClock(0);
    const unit = createSimulatedUnit({ seed: 2, clock });
    expect(await unit.backend.isI2cDevicePresent(0x4f)).toBe(true);
    expect(await unit.backend.isI2cDevicePresent(0x11)).toBe(false);
    unit.faults.failI2c(1, [0x4f]);
    await expect(unit.backend.tempSensor.readCelsius()).rejects.toBeInstanceOf(I2cError);
    expect(await unit.backend.isI2cDevicePresent(0x4f)).toBe(false);
    await expect(unit.backend.adc.input("pd2").readRaw()).resolves.toEqual(expect.any(Number));
    unit.faults.clearI2c();
    await expect(unit.backend.tempSensor.readCelsius()).resolves.toEqual(expect.any(Number));
  });

  test("noisy REF and over-temperature", async () => {
    const clock = new VirtualClock(0);
    const unit = createSimulatedUnit({ seed: 2, clock });
    await unit.backend.ledDriver.setIntensity("A", 80);
    const ref = unit.backend.adc.input("pd1");
    const sd = async () => {
      const xs: number[] = [];
      for (let i = 0; i < 200; i++) xs.push(await ref.readVolts());
      const m = xs.reduce((a, b) => a + b) / xs.length;
      return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
    };
    const quiet = await sd();
    unit.faults.setRefNoise(100);
    expect(await sd()).toBeGreaterThan(30 * quiet);
    unit.faults.setPcbTemperatureOffset(60);
    expect(await unit.backend.tempSensor.readCelsius()).toBeGreaterThan(80);
    unit.faults.clearAll();
    expect(unit.faults.current().refNoiseFactor).toBe(1);
  });
});
