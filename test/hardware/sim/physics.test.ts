import { cardinalTemperatureFactor } from "../../../src/hardware/sim/culture";
import { createSimulatedUnit, type SimulatedUnitOptions } from "../../../src/hardware/sim";
import { stepThermal, ThermalIntegrator, thermalPropagator, thermalSteadyState } from "../../../src/hardware/sim/thermal";
import { VirtualClock } from "../../../src/util/clock";

const HOUR = 3600_000;
const MIN = 60_000;

function unitAt37(overrides: Partial<SimulatedUnitOptions> = {}) {
  const clock = new VirtualClock(0);
  const unit = createSimulatedUnit({
    seed: 7,
    clock,
    params: { ambientC: 37, ...(overrides.params ?? {}) },
    initial: { temperatureC: 37, od: 0.05, ...(overrides.initial ?? {}) },
    ...overrides,
  });
  return { clock, unit };
}

async function meanVolts(unit: ReturnType<typeof createSimulatedUnit>, input: string, n = 40): Promise<number> {
  const adc = unit.backend.adc.input(input);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await adc.readVolts();
  return sum / n;
}

describe("culture growth", () => {
  test("exponential phase grows at the configured μ (within 2%)", async () => {
    const { clock, unit } = unitAt37({
      params: { ambientC: 37, culture: { maxGrowthRatePerHour: 0.5, lagHours: 0, carryingCapacityOd: 100 } },
    });
    await clock.advance(HOUR);
    const od1 = unit.bioreactor.readout().od;
    await clock.advance(4 * HOUR);
    const od5 = unit.bioreactor.readout().od;
    const rate = Math.log(od5 / od1) / 4;
    expect(Math.abs(rate - 0.5) / 0.5).toBeLessThan(0.02);
  });

  test("growth rate is estimable from the 90° photodiode (log-linear fit)", async () => {
    const { clock, unit } = unitAt37({
      params: {
        ambientC: 37,
        culture: { maxGrowthRatePerHour: 0.6, lagHours: 0, carryingCapacityOd: 100 },
        optics: { angles: { "90": { voltsAtFullIr: 0.6, blankOd: 0, saturationOd: 50, absorbancePerOd: 0 } } },
      },
    });
    await unit.backend.ledDriver.setIntensity("A", 0);
    const dark = await meanVolts(unit, "pd2", 100);
    await unit.backend.ledDriver.setIntensity("A", 80);
    const ts: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < 36; i++) {
      ts.push(clock.now() / HOUR);
      ys.push(Math.log((await meanVolts(unit, "pd2")) - dark));
      await clock.advance(5 * MIN);
    }
    const n = ts.length;
    const mt = ts.reduce((a, b) => a + b) / n;
    const my = ys.reduce((a, b) => a + b) / n;
    const slope = ts.reduce((acc, t, i) => acc + (t - mt) * (ys[i] - my), 0) / ts.reduce((acc, t) => acc + (t - mt) ** 2, 0);
    expect(Math.abs(slope - 0.6) / 0.6).toBeLessThan(0.05);
  });

  test("logistic growth saturates at the carrying capacity", async () => {
    const { clock, unit } = unitAt37({
      params: { ambientC: 37, culture: { maxGrowthRatePerHour: 1, lagHours: 0, carryingCapacityOd: 2 } },
    });
    await clock.advance(30 * HOUR);
    const r = unit.bioreactor.readout();
    expect(r.od).toBeGreaterThan(1.99);
    expect(r.od).toBeLessThanOrEqual(2);
    expect(r.growthRatePerHour).toBeLessThan(0.01);
  });

  test("lag phase delays growth by the configured lag", async () => {
    const { clock, unit } = unitAt37({
      params: { ambientC: 37, culture: { maxGrowthRatePerHour: 0.8, lagHours: 2, carryingCapacityOd: 1000 } },
    });
    expect(unit.bioreactor.readout().inLag).toBe(true);
    await clock.advance(8 * HOUR);
    const r = unit.bioreactor.readout();
    expect(r.inLag).toBe(false);
    // After the lag, ln X ≈ ln X0 + μ (t − λ): the tangent's intercept is the lag.
    const lag = 8 - Math.log(r.od / 0.05) / 0.8;
    expect(lag).toBeGreaterThan(1.9);
    expect(lag).toBeLessThan(2.1);
  });

  test("temperature: cardinal model peaks at the optimum and vanishes outside the range", () => {
    const c = { minC: 8, optC: 37, maxC: 45 };
    expect(cardinalTemperatureFactor(37, c)).toBeCloseTo(1, 12);
    expect(cardinalTemperatureFactor(8, c)).toBe(0);
    expect(cardinalTemperatureFactor(46, c)).toBe(0);
    const at30 = cardinalTemperatureFactor(30, c);
    const at22 = cardinalTemperatureFactor(22, c);
    expect(at22).toBeGreaterThan(0.1);
    expect(at22).toBeLessThan(at30);
    expect(at30).toBeLessThan(1);
    expect(cardinalTemperatureFactor(42, c)).toBeLessThan(1);
  });
});

describe("liquid handling and dilution", () => {
  test("adding media dilutes OD by V/(V+v) at once; waste stops at the efflux tube", () => {
    const { unit } = unitAt37({ initial: { od: 1.0, volumeMl: 15 } });
    unit.bioreactor.addMedia(5);
    let r = unit.bioreactor.readout();
    expect(r.od).toBeCloseTo(0.75, 12);
    expect(r.volumeMl).toBe(20);
    expect(unit.bioreactor.removeWaste(10)).toBe(5);
    r = unit.bioreactor.readout();
    expect(r.volumeMl).toBe(15);
    expect(r.od).toBeCloseTo(0.75, 12);
    expect(unit.bioreactor.removeWaste(3)).toBe(0);
    expect(unit.bioreactor.readout().volumeMl).toBe(15);
  });

  test("alt-media fraction follows the original's bookkeeping", () => {
    const { unit } = unitAt37({ initial: { volumeMl: 15 } });
    unit.bioreactor.addAltMedia(5);
    expect(unit.bioreactor.readout().altMediaFraction).toBeCloseTo(0.25, 12);
    unit.bioreactor.removeWaste(5);
    unit.bioreactor.addMedia(5);
    expect(unit.bioreactor.readout().altMediaFraction).toBeCloseTo(0.25 * 0.75, 12);
  });

  test("pumps move liquid while their PWM runs (media on channel 2, waste on 4)", async () => {
    const { clock, unit } = unitAt37({ initial: { od: 1.0, volumeMl: 15 }, params: { pumps: { media: { mlPerSecondAtFullDuty: 1 } } } });
    const media = unit.backend.pwm("2", 250);
    await media.start(100);
    await clock.advance(2000);
    await media.stop();
    let r = unit.bioreactor.readout();
    expect(r.volumeMl).toBeCloseTo(17, 9);
    expect(r.od).toBeCloseTo((1.0 * 15) / 17, 3);
    const waste = unit.backend.pwm("4", 250);
    await waste.start(100);
    await clock.advance(5000);
    await waste.cleanup();
    r = unit.bioreactor.readout();
    expect(r.volumeMl).toBe(15);
    expect(r.cumulativeWasteRemovedMl).toBeCloseTo(2, 9);
  });

  test("the 90° photodiode drops immediately after a dilution", async () => {
    const { unit } = unitAt37({ initial: { od: 1.0, volumeMl: 15 } });
    await unit.backend.ledDriver.setIntensity("A", 80);
    const before = await meanVolts(unit, "pd2", 200);
    unit.bioreactor.addMedia(5);
    const after = await meanVolts(unit, "pd2", 200);
    expect(after / before).toBeLessThan(0.85);
    expect(after / before).toBeGreaterThan(0.7);
  });

  test("a chemostat settles where D = μ(1 − X/K) predicts", async () => {
    const { clock, unit } = unitAt37({
      initial: { od: 0.1, volumeMl: 15 },
      params: { ambientC: 37, culture: { maxGrowthRatePerHour: 0.8, lagHours: 0, carryingCapacityOd: 4 } },
    });
    // Exchange 1 mL every 10 minutes, removing extra waste as the original does.
    const exchangesPerHour = 6;
    for (let i = 0; i < 60 * exchangesPerHour; i++) {
      unit.bioreactor.addMedia(1);
      unit.bioreactor.removeWaste(3);
      await clock.advance(HOUR / exchangesPerHour, 0);
    }
    const dilutionRate = Math.log(16 / 15) * exchangesPerHour;
    const expected = 4 * (1 - dilutionRate / 0.8);
    const r = unit.bioreactor.readout();
    expect(Math.abs(r.od - expected) / expected).toBeLessThan(0.05);
    expect(r.volumeMl).toBe(15);
  });

  test("a turbidostat can hold OD: exchange whenever OD ≥ target", async () => {
    const { clock, unit } = unitAt37({
      initial: { od: 0.2 },
      params: { ambientC: 37, culture: { maxGrowthRatePerHour: 0.8, lagHours: 0, carryingCapacityOd: 4 } },
    });
    const ods: number[] = [];
    for (let i = 0; i < 24 * 60; i++) {
      if (unit.bioreactor.readout().od >= 1.0) {
        unit.bioreactor.addMedia(1);
        unit.bioreactor.removeWaste(3);
      }
      await clock.advance(MIN, 0);
      if (i > 6 * 60) ods.push(unit.bioreactor.readout().od);
    }
    expect(Math.min(...ods)).toBeGreaterThan(0.9);
    expect(Math.max(...ods)).toBeLessThan(1.02);
  });
});

describe("heater and temperature", () => {
  test("constant duty reaches the analytic steady state", async () => {
    const { clock, unit } = unitAt37({ params: { ambientC: 22 }, initial: { temperatureC: 22 } });
    const heater = unit.backend.heater();
    expect(heater.pin).toBe(18);
    expect(heater.frequencyHz).toBe(16);
    await heater.start(50);
    await clock.advance(4 * HOUR);
    const p = unit.bioreactor.params();
    const ss = thermalSteadyState(p.thermal, 50, 22);
    const r = unit.bioreactor.readout();
    expect(r.vialTemperatureC).toBeCloseTo(ss.vialC, 2);
    expect(r.pcbTemperatureC).toBeCloseTo(ss.pcbC, 2);
    expect(ss.vialC).toBeGreaterThan(30);
    const sensed = await unit.backend.tempSensor.readCelsius();
    expect(Math.abs(sensed - ss.pcbC)).toBeLessThan(0.2);
    expect((sensed / 0.0625) % 1).toBe(0);
  });

  test("warming takes minutes, and a simple loop on the heater holds 30 °C", async () => {
    const { clock, unit } = unitAt37({ params: { ambientC: 22 }, initial: { temperatureC: 22 } });
    const heater = unit.backend.heater();
    await heater.start(100);
    await clock.advance(2 * MIN);
    expect(unit.bioreactor.readout().vialTemperatureC).toBeLessThan(25);
    // A PI loop once a minute on the vial temperature.
    let integral = 0;
    for (let i = 0; i < 240; i++) {
      const error = 30 - unit.bioreactor.readout().vialTemperatureC;
      integral = Math.min(100, Math.max(0, integral + 0.5 * error));
      await heater.setDutyCycle(Math.min(100, Math.max(0, 10 * error + integral)));
      await clock.advance(MIN, 0);
    }
    expect(Math.abs(unit.bioreactor.readout().vialTemperatureC - 30)).toBeLessThan(0.3);
  });
});

describe("thermal propagator", () => {
  // The cooling-curve inference reads the unit responses off e^{At} directly; they must be the
  // very numbers stepping a unit excess with the heater off in a 0 °C room gives.
  test("its entries are stepThermal's responses to a unit excess, to the bit", () => {
    const { unit } = unitAt37();
    const p = { ...unit.bioreactor.params().thermal, heaterWatts: 0 };
    for (const volume of [0, 14, 20.5]) {
      for (const t of [0, 0.05, 5.3, 111.7, 3600]) {
        const m = thermalPropagator(p, volume, t);
        const fromPcb = stepThermal({ pcbC: 1, vialC: 0 }, p, 0, 0, volume, t);
        const fromVial = stepThermal({ pcbC: 0, vialC: 1 }, p, 0, 0, volume, t);
        expect([m.m11, m.m21, m.m12, m.m22]).toEqual([fromPcb.pcbC, fromPcb.vialC, fromVial.pcbC, fromVial.vialC]);
      }
    }
  });

  // The bioreactor steps in place and keeps the last propagator: a reused one must give the very
  // numbers a fresh computation gives, whatever the order of volumes and step lengths.
  test("the in-place integrator with its cached propagator matches stepThermal to the bit", () => {
    const { unit } = unitAt37();
    const p = unit.bioreactor.params().thermal;
    const integrator = new ThermalIntegrator();
    const inPlace = { pcbC: 22, vialC: 22 };
    let fresh = { pcbC: 22, vialC: 22 };
    const steps: Array<[number, number, number]> = [];
    for (const volume of [14, 14, 20.5, 14]) for (const seconds of [10, 10, 0.013, 0, 10, 3.7]) steps.push([volume, seconds, 60]);
    steps.push([14, 10, 0], [14, 10, 100]);
    for (const [volume, seconds, duty] of steps) {
      const same = inPlace;
      integrator.step(inPlace, p, duty, 22, volume, seconds);
      expect(inPlace).toBe(same);
      fresh = stepThermal(fresh, p, duty, 22, volume, seconds);
      expect(inPlace).toEqual(fresh);
    }
    expect(inPlace.vialC).toBeGreaterThan(22);
  });
});

describe("stirring", () => {
  test("RPM follows duty cycle with a first-order lag; a motor at rest needs a kick", async () => {
    const { clock, unit } = unitAt37();
    const stirrer = unit.backend.pwm("1", 200);
    await stirrer.start(15);
    await clock.advance(5000);
    expect(unit.bioreactor.readout().rpm).toBe(0);
    await stirrer.setDutyCycle(30);
    await clock.advance(1000);
    expect(unit.bioreactor.readout().rpm).toBeCloseTo(500 * (1 - Math.exp(-1)), 0);
    await clock.advance(9000);
    expect(unit.bioreactor.readout().rpm).toBeCloseTo(500, 1);
    await stirrer.setDutyCycle(15); // running motors keep turning below breakaway
    await clock.advance(10_000);
    expect(unit.bioreactor.readout().rpm).toBeCloseTo(125, 0);
  });

  test("hall sensor edges match the RPM; a stalled stirrer gives none", async () => {
    const { clock, unit } = unitAt37();
    const stirrer = unit.backend.pwm("1", 200);
    await stirrer.start(30);
    await clock.advance(10_000);
    const edges: number[] = [];
    const off = unit.backend.rpmSensor.onEdge((t) => edges.push(t));
    await clock.advance(10_000);
    off();
    const rpm = (60_000 * (edges.length - 1)) / (edges.at(-1)! - edges[0]);
    expect(Math.abs(rpm - 500) / 500).toBeLessThan(0.02);
    expect(edges.length).toBeGreaterThan(80);

    unit.faults.stallStirrer();
    await clock.advance(5000);
    const stalled: number[] = [];
    const off2 = unit.backend.rpmSensor.onEdge((t) => stalled.push(t));
    await clock.advance(5000);
    off2();
    expect(stalled).toEqual([]);
    expect(unit.bioreactor.readout().rpm).toBeLessThan(1);
    await unit.backend.rpmSensor.close();
  });
});
