#!/usr/bin/env node
/**
 * `npm run demo`: the README's first command. Rehearses `profiles/demo.yaml` — two simulated
 * bioreactors for 48 hours: stirring, OD reading, growth rate, a thermostat with a temperature step,
 * turbidostats whose targets change when the growth rate passes a threshold, and a light cycle —
 * through the same profile executor and job code as on hardware, on a virtual clock. It prints a
 * summary per unit and leaves a chart per unit, CSV files and the leader database in `sim-output/`.
 * Extra arguments are passed on (`npm run demo -- --seed 2 --out my-run`).
 */
import path from "node:path";
import { runProgram } from "./main";
import { buildPioProgram } from "./pio";

async function main(): Promise<void> {
  const profile = path.join(__dirname, "..", "..", "..", "profiles", "demo.yaml");
  const args = ["run", "profile", profile, "--simulate", ...process.argv.slice(2)];
  const program = buildPioProgram(process.env, process.cwd(), [], args);
  process.exitCode = await runProgram(program, ["node", "pio", ...args]);
}

void main();
