/**
 * What each job costs on the simulated cluster: 8 units (or `--units N`) run only the jobs named,
 * for `--hours H`, through the profile executor, and the CPU time of the whole run is printed.
 * Subtracting two runs gives one job's cost next to the others.
 *
 *   npm run build && node dist/bench/sim-parts.js od_reading,growth_rate_calculating [--hours 6] [--units 8] [--threads 1]
 *
 * Jobs: stirring, od_reading, growth_rate_calculating, temperature_automation (thermostat),
 * led_automation (light/dark cycle), dosing_automation (turbidostat from 2 h).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { simulateProfile } from "../src/sim/run-profile";

const STARTS: Record<string, string> = {
  stirring: "{type: start, t: 0s, options: {target_rpm: 500.0}}",
  od_reading: "{type: start, t: 0s, options: {interval: 5}}",
  growth_rate_calculating: "{type: start, t: 1m}",
  temperature_automation: "{type: start, t: 0s, options: {automation_name: thermostat, target_temperature: 30.0}}",
  led_automation:
    "{type: start, t: 0s, options: {automation_name: light_dark_cycle, light_intensity: 20.0, light_duration_minutes: 720, dark_duration_minutes: 720}}",
  dosing_automation: "{type: start, t: 2h, options: {automation_name: turbidostat, target_biomass: 2.5, biomass_signal: normalized_od, exchange_volume_ml: 1.0}}",
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const jobs = (process.argv[2] ?? "").split(",").filter(Boolean);
  const unknown = jobs.filter((j) => !(j in STARTS));
  if (jobs.length === 0 || unknown.length > 0) {
    process.stderr.write(`usage: sim-parts.js JOB[,JOB…] [--hours H] [--units N] [--threads N]; jobs: ${Object.keys(STARTS).join(", ")}\n`);
    process.exit(2);
  }
  const hours = Number(arg("hours", "6"));
  const units = Number(arg("units", "8"));
  let text = `version: "1.0"\nexperiment_profile_name: sim-parts\ncommon:\n  jobs:\n`;
  for (const j of jobs) text += `    ${j}:\n      actions:\n        - ${STARTS[j]}\n        - {type: stop, t: ${hours}h}\n`;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "pio-sim-parts-"));
  const cpu = process.cpuUsage();
  const r = await simulateProfile({
    text,
    filename: "sim-parts.yaml",
    units: Array.from({ length: units }, (_, i) => `unit${i + 1}`),
    outDir: out,
    seed: 1,
    startMs: Date.UTC(2026, 0, 1),
    adcOversampling: 10,
    skipOutputs: true,
    threads: Number(arg("threads", "1")),
  });
  const used = process.cpuUsage(cpu);
  fs.rmSync(out, { recursive: true, force: true });
  const line = { jobs, units, hours, wallS: r.wallMs / 1000, cpuS: Number(((used.user + used.system) / 1e6).toFixed(3)), messages: r.messagesPublished, rows: r.rowCounts };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
