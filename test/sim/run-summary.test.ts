/**
 * A short simulated run without charts: its summary comes from a few last-row queries instead of
 * every row read back, and must say exactly what the full read would.
 */
import fs from "node:fs";
import { tempSimDir } from "../../src/sim/cluster";
import { finalsOf, readUnitData, readUnitFinals } from "../../src/sim/run-data";
import { type SimulationResult, simulateProfile } from "../../src/sim/run-profile";

const PROFILE = `version: "1.0"
experiment_profile_name: Summary check
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s, options: {target_rpm: 500.0}}
    od_reading:
      actions:
        - {type: start, t: 0s, options: {interval: 5}}
    growth_rate_calculating:
      actions:
        - {type: start, t: 1m}
    temperature_automation:
      actions:
        - {type: start, t: 0s, options: {automation_name: thermostat, target_temperature: 30.0}}
    dosing_automation:
      actions:
        - {type: start, t: 10m, options: {automation_name: turbidostat, target_biomass: 1.02, biomass_signal: normalized_od, exchange_volume_ml: 0.5}}
        - {type: stop, t: 3h}
`;

let dir: string;
let result: SimulationResult;

beforeAll(async () => {
  dir = tempSimDir("pio-sim-summary-");
  result = await simulateProfile({
    text: PROFILE,
    filename: "summary.yaml",
    units: ["unit1"],
    outDir: dir,
    seed: 3,
    startMs: Date.UTC(2026, 0, 1),
    adcOversampling: 10,
    skipOutputs: true,
  });
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a run without charts summarises the database exactly as reading every row would", () => {
  expect(result.outcome.status).toBe("finished");
  const full = finalsOf(readUnitData(result.databaseFile, result.experiment, "unit1"));
  expect(readUnitFinals(result.databaseFile, result.experiment, "unit1")).toEqual(full);
  const [summary] = result.units;
  expect({
    finalNod: summary.finalNod,
    finalGrowthRate: summary.finalGrowthRate,
    finalTemperatureC: summary.finalTemperatureC,
    dosingEvents: summary.dosingEvents,
  }).toEqual(full);
  // Worth comparing only if the run produced every kind of value.
  expect(full.finalNod).toEqual(expect.any(Number));
  expect(full.finalGrowthRate).toEqual(expect.any(Number));
  expect(full.finalTemperatureC).toEqual(expect.any(Number));
  expect(full.dosingEvents).toBeGreaterThan(0);
  expect(summary.chart).toBeUndefined();
  expect(result.csv).toEqual([]);
});
