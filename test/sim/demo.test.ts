/**
 * The demo profile end to end on the simulated cluster (fast clock): it finishes, each unit gets a
 * chart with real curves, the CSVs hold the readings and dosing events, and each turbidostat holds
 * its normalised OD near the target it had at the time (the `when` lowers it after the
 * temperature step).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { tempSimDir } from "../../src/sim/cluster";
import { type SimulationResult, simulateProfile } from "../../src/sim/run-profile";
import { distProblem, staleSources } from "../e2e/leader-process";

const REPO = path.join(__dirname, "..", "..");
const DEMO = path.join(REPO, "profiles", "demo.yaml");
let dir: string;
let result: SimulationResult;

const options = (outDir: string) => ({ text: fs.readFileSync(DEMO, "utf8"), filename: "demo.yaml", outDir, seed: 1, startMs: Date.UTC(2026, 5, 1, 8), adcOversampling: 10 });

/**
 * The same simulation in a plain Node process from the compiled build: under Jest's module runtime
 * it costs about 2.3 times the CPU (93 s against 40 s measured), enough to time out on a loaded
 * 2-core machine. Without a current build it runs here instead.
 */
async function simulateInChild(outDir: string): Promise<SimulationResult> {
  const script = `
    const { simulateProfile } = require(${JSON.stringify(path.join(REPO, "dist", "src", "sim", "run-profile.js"))});
    const options = JSON.parse(process.argv[1]);
    simulateProfile(options).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", script, JSON.stringify(options(outDir))], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as SimulationResult;
}

beforeAll(async () => {
  dir = tempSimDir("pio-sim-demo-");
  const buildCurrent = distProblem() === undefined && staleSources().length === 0;
  result = buildCurrent ? await simulateInChild(dir) : await simulateProfile(options(dir));
}, 420_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function csvRows(table: string): string[][] {
  const text = fs.readFileSync(path.join(dir, "csv", `${table}.csv`), "utf8");
  return text.trimEnd().split("\r\n").map((l) => l.split(","));
}

test("the demo finishes on the virtual clock, every action run, for two units", () => {
  expect(result.outcome.status).toBe("finished");
  expect(result.outcome.waitingWhens).toBe(0);
  expect(result.endMs - result.startMs).toBeGreaterThanOrEqual(48 * 3_600_000);
  expect(result.units.map((u) => u.unit)).toEqual(["unit1", "unit2"]);
  for (const u of result.units) {
    expect(u.actions).toBeGreaterThanOrEqual(13);
    expect(u.jobsStarted).toMatchObject({ stirring: 1, od_reading: 1, growth_rate_calculating: 1, temperature_automation: 1, led_automation: 1, dosing_automation: 1 });
    expect(u.mediaAddedMl).toBeGreaterThan(100);
  }
});

test("each unit's chart has its curves, with many points per series", () => {
  for (const u of result.units) {
    const svg = fs.readFileSync(u.chart!, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    const series = [...svg.matchAll(/<polyline class="series" data-label="([^"]+)" data-points="(\d+)"/g)].map((m) => [m[1], Number(m[2])] as const);
    const points = Object.fromEntries(series.filter(([label]) => label !== "target"));
    for (const label of ["od", "od_filtered", "growth rate", "temperature"]) expect(points[label]).toBeGreaterThan(500);
    expect(series.filter(([label]) => label === "target").length).toBe(2); // turbidostat and thermostat targets
    expect(svg).toMatch(/<path class="events" data-label="media added" d="M/);
    expect(svg).toContain("Hours since the profile started");
  }
});

test("the CSVs hold every unit's OD readings and dosing events", () => {
  const od = csvRows("od_readings");
  const header = od[0];
  const unitCol = header.indexOf("pioreactor_unit");
  for (const unit of ["unit1", "unit2"]) {
    // One reading every 5 s for 48 h.
    expect(od.filter((r) => r[unitCol] === unit).length).toBeGreaterThan(34_000);
  }
  const dosing = csvRows("dosing_events");
  const eventCol = dosing[0].indexOf("event");
  for (const unit of ["unit1", "unit2"]) {
    const mine = dosing.filter((r) => r[dosing[0].indexOf("pioreactor_unit")] === unit);
    expect(mine.filter((r) => r[eventCol] === "add_media").length).toBeGreaterThan(100);
    expect(mine.filter((r) => r[eventCol] === "remove_waste").length).toBeGreaterThan(100);
  }
});

test("the turbidostats hold normalised OD near each target, before and after the `when` lowered it", () => {
  const db = new Database(result.databaseFile, { readonly: true });
  try {
    const window = (unit: string, fromH: number, toH: number) =>
      (
        db.prepare("SELECT timestamp, normalized_od_reading AS v FROM od_readings_filtered WHERE pioreactor_unit = ?").all(unit) as Array<{ timestamp: string; v: number }>
      )
        .filter((r) => {
          const h = (Date.parse(r.timestamp) - result.startMs) / 3_600_000;
          return h >= fromH && h < toH;
        })
        .map((r) => r.v)
        .sort((a, b) => a - b);
    for (const [unit, before, after] of [
      ["unit1", 3.0, 2.0],
      ["unit2", 2.0, 1.5],
    ] as const) {
      for (const [from, to, target] of [
        [6, 24, before],
        [40, 48, after],
      ] as const) {
        const v = window(unit, from, to);
        expect(v.length).toBeGreaterThan(1000);
        const median = v[v.length >> 1];
        expect(Math.abs(median - target) / target).toBeLessThan(0.05);
        // 98 % of the readings within −10 % / +2 % of the target: dilution only ever pulls it down.
        expect(v[Math.floor(v.length * 0.01)]).toBeGreaterThan(target * 0.9);
        expect(v[Math.floor(v.length * 0.99)]).toBeLessThan(target * 1.02);
      }
    }
    const lowered = db.prepare("SELECT COUNT(*) AS n FROM logs WHERE message LIKE 'unit_ grows at %target lowered%'").get() as { n: number };
    expect(lowered.n).toBe(2);
  } finally {
    db.close();
  }
});
