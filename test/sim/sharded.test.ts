/**
 * Units spread over worker threads (src/sim/sharded) simulate exactly what one thread does: the
 * same profile and seed give the same rows in every data table, row for row. A `when` still
 * reacts within a window of its condition coming true, a unit's start failure still reaches the
 * profile's log, and the run summary adds up the same.
 *
 * Worker threads need the compiled build (a worker cannot load TypeScript), so the simulations
 * run in a plain Node child from `dist/`, as the demo test does; without a current build the test
 * is skipped, saying why (CI always builds first).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { tempSimDir } from "../../src/sim/cluster";
import type { SimulationResult } from "../../src/sim/run-profile";
import { distProblem, staleSources } from "../e2e/leader-process";

const REPO = path.join(__dirname, "..", "..");
const problem = distProblem() ?? (staleSources().length > 0 ? `the build is older than ${staleSources()[0]} (run \`npm run build\`)` : undefined);
const maybe = problem ? test.skip : test;
if (problem) console.warn(`Skipping the sharded-simulation tests: ${problem}.`);

const DATA_TABLES = ["od_readings", "od_readings_filtered", "growth_rates", "temperature_readings", "dosing_events", "pwm_dcs", "stirring_rates", "led_change_events", "liquid_volumes"];

const PROFILE = `version: "1.0"
experiment_profile_name: Sharding equivalence
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s, options: {target_rpm: 500.0}}
        - {type: stop, t: 3h}
    od_reading:
      actions:
        - {type: start, t: 0s}
        - {type: stop, t: 3h}
    growth_rate_calculating:
      actions:
        - {type: start, t: 1m}
        - {type: stop, t: 3h}
    temperature_automation:
      actions:
        - {type: start, t: 0s, options: {automation_name: thermostat, target_temperature: 30.0}}
        - {type: update, t: 90m, options: {target_temperature: 35.0}}
        - {type: stop, t: 3h}
    led_automation:
      actions:
        - {type: start, t: 0s, options: {automation_name: light_dark_cycle, light_intensity: 20.0, light_duration_minutes: 60, dark_duration_minutes: 60}}
        - {type: stop, t: 3h}
    dosing_automation:
      actions:
        - {type: start, t: 30m, options: {automation_name: turbidostat, target_biomass: 1.2, biomass_signal: normalized_od, exchange_volume_ml: 1.0}}
        - {type: stop, t: 3h}
`;

const WHEN_PROFILE = `version: "1.0"
experiment_profile_name: Sharded when
common:
  jobs:
    od_reading:
      actions:
        - {type: start, t: 0s}
        - {type: stop, t: 2h}
    growth_rate_calculating:
      actions:
        - {type: start, t: 1m}
        - type: when
          t: 2m
          wait_until: "::growth_rate_calculating:od_filtered.od_filtered > 1.05"
          actions:
            - {type: log, t: 0s, options: {message: "past 1.05", level: notice}}
        - {type: stop, t: 2h}
    stirring:
      actions:
        - {type: start, t: 0s, options: {target_rpm: fast}}
`;

interface Run {
  result: SimulationResult;
  dir: string;
}

async function simulate(text: string, units: string[], threads: number): Promise<Run> {
  const dir = tempSimDir("pio-sim-sharded-");
  const options = { text, filename: "sharded.yaml", units, outDir: dir, seed: 7, startMs: Date.UTC(2026, 2, 1), adcOversampling: 10, threads, skipOutputs: true };
  const script = `
    const { simulateProfile } = require(${JSON.stringify(path.join(REPO, "dist", "src", "sim", "run-profile.js"))});
    const lines = [];
    simulateProfile({ ...JSON.parse(process.argv[1]), log: (l) => lines.push(l) }).then(
      (r) => process.stdout.write(JSON.stringify({ ...r, lines })),
      (e) => { console.error(e); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", script, JSON.stringify(options)], { maxBuffer: 64 * 1024 * 1024 });
  return { result: JSON.parse(stdout) as SimulationResult & { lines: string[] }, dir };
}

function rows(dir: string, table: string): string[] {
  const db = new Database(path.join(dir, "pioreactor.sqlite"), { readonly: true });
  try {
    return (db.prepare(`SELECT * FROM "${table}"`).raw().all() as unknown[][]).map((r) => JSON.stringify(r)).sort();
  } finally {
    db.close();
  }
}

const runs: Run[] = [];
afterAll(() => {
  for (const r of runs) fs.rmSync(r.dir, { recursive: true, force: true });
});

maybe(
  "four units on two threads write the same data rows as on one thread",
  async () => {
    const units = ["unit1", "unit2", "unit3", "unit4"];
    const [one, two] = await Promise.all([simulate(PROFILE, units, 1), simulate(PROFILE, units, 2)]);
    runs.push(one, two);
    for (const table of DATA_TABLES) {
      const a = rows(one.dir, table);
      expect({ table, rows: a.length > 0 }).toEqual({ table, rows: true });
      expect({ table, same: rows(two.dir, table) }).toEqual({ table, same: a });
    }
    // Every job starts at the same simulated instant: a request reaches its unit when the profile
    // sends it, not where the unit's thread last stopped.
    const starts = (dir: string) => {
      const db = new Database(path.join(dir, "pioreactor.sqlite"), { readonly: true });
      try {
        return db.prepare("SELECT pioreactor_unit, task, timestamp FROM logs WHERE message = 'Init.' ORDER BY 1, 2, 3").raw().all();
      } finally {
        db.close();
      }
    };
    expect(starts(two.dir)).toEqual(starts(one.dir));
    expect(two.result.outcome).toEqual(one.result.outcome);
    expect(two.result.rowCounts.od_readings).toBe(one.result.rowCounts.od_readings);
    for (const [i, u] of two.result.units.entries()) {
      const v = one.result.units[i];
      expect(u.unit).toBe(v.unit);
      expect(u.finalOd).toBe(v.finalOd);
      expect(u.mediaAddedMl).toBe(v.mediaAddedMl);
      expect(u.actions).toBe(v.actions);
      expect(u.jobsStarted).toEqual(v.jobsStarted);
    }
    expect(two.result.messagesPublished).toBeGreaterThan(0);
  },
  300_000,
);

maybe(
  "on two threads a when fires within a window of its condition, and a unit's failed start reaches the log",
  async () => {
    const run = await simulate(WHEN_PROFILE, ["unit1", "unit2"], 2);
    runs.push(run);
    const lines = (run.result as SimulationResult & { lines: string[] }).lines;
    const db = new Database(path.join(run.dir, "pioreactor.sqlite"), { readonly: true });
    for (const unit of ["unit1", "unit2"]) {
      expect(lines.some((l) => l.includes(`Failed to start \`stirring\` on ${unit}`))).toBe(true);
      // The `log` action's line is the unit's, posted as the leader's API would.
      const fired = db.prepare("SELECT timestamp FROM logs WHERE pioreactor_unit = ? AND message = 'past 1.05'").pluck().get(unit) as string | undefined;
      expect(fired).toBeDefined();
      // The first filtered OD past the threshold, as the database has it.
      const first = db
        .prepare("SELECT timestamp FROM od_readings_filtered WHERE pioreactor_unit = ? AND normalized_od_reading > 1.05 ORDER BY timestamp LIMIT 1")
        .pluck()
        .get(unit) as string;
      const lateMs = Date.parse(fired!) - Date.parse(first);
      expect(lateMs).toBeGreaterThanOrEqual(0);
      expect(lateMs).toBeLessThanOrEqual(5_000);
    }
    db.close();
    expect(run.result.outcome.status).toBe("finished");
  },
  300_000,
);
