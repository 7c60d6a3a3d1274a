/**
 * A simulated week on eight units: stirring, OD reading, growth rate, a thermostat, a turbidostat
 * and a light cycle on every unit, through the profile executor, with every message streamed into
 * the leader database. Reports wall time, peak RSS, simulated-to-real speed, messages and rows.
 *
 *   npm run build && node dist/bench/sim-week.js [--units 8] [--days 7] [--od-interval 5] [--adc-samples 10] [--threads N] [--out DIR] [--start ISO]
 *
 * `--start` fixes the simulated start time, so two runs of the same build write identical
 * databases (what an optimisation must preserve).
 *
 * Targets: < 60 s wall, < 500 MB peak RSS. OD readings every 5 s (the default) are the load that
 * matters: every reading is ~10 ADC samples on the clock, LED switching, six publishes, a growth
 * rate update, a turbidostat check and database rows.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { simulateProfile } from "../src/sim/run-profile";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function profileText(days: number, odIntervalS: number): string {
  const end = `${days}d`;
  // The thermostat's target steps up 3/7 of the way through (day 3 of a week), so shorter runs end
  // with their last action instead of idling on to day 3.
  const step = `${Math.round((days * 24 * 60 * 3) / 7)}m`;
  return `version: "1.0"
experiment_profile_name: Simulated week benchmark
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s, options: {target_rpm: 500.0}}
        - {type: stop, t: ${end}}
    od_reading:
      actions:
        - {type: start, t: 0s, options: {interval: ${odIntervalS}}}
        - {type: stop, t: ${end}}
    growth_rate_calculating:
      actions:
        - {type: start, t: 1m}
        - {type: stop, t: ${end}}
    temperature_automation:
      actions:
        - {type: start, t: 0s, options: {automation_name: thermostat, target_temperature: 30.0}}
        - {type: update, t: ${step}, options: {target_temperature: 35.0}}
        - {type: stop, t: ${end}}
    led_automation:
      actions:
        - {type: start, t: 0s, options: {automation_name: light_dark_cycle, light_intensity: 20.0, light_duration_minutes: 720, dark_duration_minutes: 720}}
        - {type: stop, t: ${end}}
    dosing_automation:
      actions:
        - {type: start, t: 2h, options: {automation_name: turbidostat, target_biomass: 2.5, biomass_signal: normalized_od, exchange_volume_ml: 1.0}}
        - {type: stop, t: ${end}}
`;
}

async function main(): Promise<void> {
  const units = Number(arg("units", "8"));
  const days = Number(arg("days", "7"));
  const odInterval = Number(arg("od-interval", "5"));
  const adcSamples = Number(arg("adc-samples", "10"));
  const threadsArg = arg("threads", "");
  const threads = threadsArg ? Number(threadsArg) : undefined;
  // Only without --out: a scratch directory per run otherwise piles up empty in /tmp.
  const out = arg("out", "") || fs.mkdtempSync(path.join(os.tmpdir(), "pio-sim-week-"));
  const start = arg("start", "");
  const startMs = start ? Date.parse(start) : undefined;
  if (startMs !== undefined && Number.isNaN(startMs)) {
    process.stderr.write(`--start: expected an ISO date-time such as 2026-01-01T00:00:00Z, got '${start}'\n`);
    process.exit(2);
  }
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);
  const names = Array.from({ length: units }, (_, i) => `unit${i + 1}`);
  let lastTenth = -1;
  const r = await simulateProfile({
    text: profileText(days, odInterval),
    filename: "sim-week.yaml",
    units: names,
    outDir: out,
    seed: 1,
    startMs,
    adcOversampling: adcSamples,
    threads,
    skipOutputs: true,
    progressEveryMs: 1000,
    onProgress: (p) => {
      const tenth = Math.floor((10 * p.simulatedMs) / p.horizonMs);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        process.stderr.write(`  ${(p.simulatedMs / 86_400_000).toFixed(1)} d simulated after ${(p.wallMs / 1000).toFixed(1)} s\n`);
      }
    },
  });
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const rows = Object.values(r.rowCounts).reduce((a, b) => a + b, 0);
  const line = {
    units,
    days,
    odIntervalS: odInterval,
    adcSamples,
    threads: threads ?? "default",
    status: r.outcome.status,
    wallS: Number((r.wallMs / 1000).toFixed(1)),
    peakRssMb: Math.round(peakRss / 1e6),
    speedup: Math.round((r.endMs - r.startMs) / r.wallMs),
    simulatedHours: Number(((r.endMs - r.startMs) / 3_600_000).toFixed(2)),
    simHoursPerWallS: Number(((r.endMs - r.startMs) / 3_600_000 / (r.wallMs / 1000)).toFixed(2)),
    messages: r.messagesPublished,
    odReadings: r.rowCounts.od_readings,
    rowsCounted: rows,
    database: r.databaseFile,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
