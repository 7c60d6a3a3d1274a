/**
 * The thermostat on the simulated vial, composed as `pio run temperature_automation` composes
 * it (default config, default estimator). The heater only runs ~95 s of every 200 s (the other
 * ~105 s are the cooling curve the inference needs), and the vial temperature is inferred from
 * the PCB, so these tests check the true vial temperature, not only what the job reports.
 */
import { defaultVialTemperatureModel, linearCoolingCurveModel, twoNodeCoolingModel } from "../../src/automations/temperature/inference";
import { Thermostat } from "../../src/automations/temperature/thermostat";
import { decodeTemperature } from "../../src/pubsub/structs";
import { Rig } from "./helpers/rig";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Runs the thermostat for `settleHours`, then for 2 h samples the true vial every 20 s (so the
 * swing within each 200 s heat/measure cycle counts) and the inferred temperature once per cycle.
 */
async function holdAt(target: number, settleHours: number) {
  const rig = new Rig();
  try {
    const job = await new Thermostat(rig.deps(), rig.temperatureContext(), { target_temperature: String(target) }).start();
    await rig.run(settleHours * 3_600_000, 200_000);
    const truth: number[] = [];
    const inferred: number[] = [];
    const logged = rig.bus.log.length;
    for (let i = 0; i < 360; i++) {
      await rig.run(20_000, 20_000);
      truth.push(rig.sim.bioreactor.readout().vialTemperatureC);
      if (i % 10 === 9) inferred.push(job.latestTemperature ?? Number.NaN);
    }
    await job.stop("test");
    // Duty cycles the thermostat chose (the 0s in between are the inference's heater-off windows).
    const duty = rig.bus.log
      .slice(logged)
      .filter((p) => p.topic.endsWith("/temperature_automation/heater_duty_cycle") && p.payload)
      .map((p) => Number(p.payload.toString()))
      .filter((dc) => dc > 0);
    const published = rig.bus.log.filter((p) => p.topic.endsWith("/temperature_automation/temperature") && p.payload);
    return { truth, inferred, duty, published };
  } finally {
    rig.close();
  }
}

test("with default config the thermostat holds the true vial at 30 ℃ ± 0.5 after settling", async () => {
  const { truth, inferred, duty, published } = await holdAt(30, 4);
  expect(published.length).toBeGreaterThan(36);
  for (const t of published) expect(decodeTemperature(t.payload).ok).toBe(true);
  expect(Math.min(...truth)).toBeGreaterThan(29.5);
  expect(Math.max(...truth)).toBeLessThan(30.5);
  expect(Math.abs(mean(inferred) - 30)).toBeLessThan(0.5);
  // Holding 30 ℃ takes part of the heater, not all of it.
  expect(mean(duty)).toBeGreaterThan(5);
  expect(mean(duty)).toBeLessThan(60);
}, 120_000);

test("a 37 ℃ target is reached and held from a 22 ℃ room, with heater headroom left", async () => {
  const { truth, duty } = await holdAt(37, 4);
  expect(Math.min(...truth)).toBeGreaterThan(36.5);
  expect(Math.max(...truth)).toBeLessThan(37.5);
  expect(Math.max(...duty)).toBeLessThan(90);
}, 120_000);

test("the estimator follows the hardware: the simulator's PCB constants, else the original's regression", () => {
  const rig = new Rig();
  try {
    const sim = rig.sim.backend;
    const { heaterWatts, ...constants } = rig.sim.bioreactor.params().thermal;
    expect(heaterWatts).toBeGreaterThan(0);
    expect(sim.heatingThermal).toEqual(constants);
    const curve = { previousDutyCycle: 40, samples: Array.from({ length: 21 }, (_, i) => 40 - i * 0.3), secondsBetweenSamples: 5, roomTemperatureC: 22, volumeMl: 15 };
    expect(defaultVialTemperatureModel(sim)(curve)).toBeCloseTo(twoNodeCoolingModel(sim.heatingThermal!)(curve), 10);
    expect(defaultVialTemperatureModel({})(curve)).toBeCloseTo(linearCoolingCurveModel(curve), 10);
  } finally {
    rig.close();
  }
});

test("the original's regression does not transfer to the simulator's thermal constants", async () => {
  const rig = new Rig();
  try {
    const job = await new Thermostat(rig.deps(), rig.temperatureContext({ vialTemperatureModel: linearCoolingCurveModel }), { target_temperature: "30" }).start();
    await rig.run(2 * 3_600_000, 200_000);
    const errors: number[] = [];
    const truth: number[] = [];
    for (let i = 0; i < 18; i++) {
      await rig.run(200_000, 200_000);
      truth.push(rig.sim.bioreactor.readout().vialTemperatureC);
      errors.push(Math.abs((job.latestTemperature ?? 0) - truth[truth.length - 1]));
    }
    // Its readings swing by degrees around the truth, and the vial settles too warm.
    expect(Math.max(...errors)).toBeGreaterThan(1);
    expect(mean(truth)).toBeGreaterThan(30.5);
    await job.stop("test");
  } finally {
    rig.close();
  }
}, 120_000);
