/**
 * `pio run profile FILE --simulate`: a profile driving a simulated cluster, start to finish.
 *
 *   validate → leader database + N simulated units on one clock and one in-process bus →
 *   the profile through the same ProfileExecutor a real run uses (its ClusterClient starts the
 *   real job classes on the simulated units; `when` lookups read the values those jobs publish) →
 *   stop everything, let the streamer write what it holds → per-unit chart (SVG), CSV per table,
 *   a summary.
 *
 * Clocks: `fast` is a VirtualClock the executor jumps from timer to timer (a 48 h profile in
 * seconds); `speed N` is simulated time running N× real time, for watching it happen.
 */
import fs from "node:fs";
import path from "node:path";
import { JobLogger, type LogRecord, type LogSink, MqttLogSink, LOG_LEVEL_NUMBERS } from "../jobs/logger";
import type { RunOutcome, ProfileExecutor } from "../profiles/executor";
import { buildPlan } from "../profiles/plan";
import { startProfileRun, validatedProfile } from "../profiles/runner";
import type { Profile } from "../profiles/types";
import type { Clock } from "../util/clock";
import { BusLookups } from "./bus-lookups";
import { runUntil, ScaledClock, SimulationClock } from "./clocks";
import { SimulatedCluster, type SimulatedClusterOptions } from "./cluster";
import { type ExportedTable, exportTablesAsCsv } from "./csv-export";
import { InProcessBus } from "./in-process-bus";
import { finalsOf, LatestValues, readUnitData, readUnitFinals, SettingHistory, tableCounts } from "./run-data";
import { seededRandom } from "./seeded-random";
import { renderUnitChart } from "./unit-chart";

export type SimClockMode = { kind: "fast" } | { kind: "speed"; speed: number };

export interface SimulateProfileOptions {
  text: string;
  filename: string;
  /** Already validated; otherwise `text` is validated here. */
  profile?: Profile;
  /** Default: the profile's units (`pioreactors:`), else unit1 and unit2. */
  units?: string[];
  experiment?: string;
  seed?: number;
  clock?: SimClockMode;
  outDir: string;
  /** Simulated start time (default: now). */
  startMs?: number;
  configOverrides?: Array<[string, string, string]>;
  /** Per-unit culture physics (growth rate, lag …). */
  unitParams?: SimulatedClusterOptions["unitParams"];
  /** Lines for the person watching: the profile's notices, warnings and errors. */
  log?: (line: string) => void;
  onProgress?: (p: SimProgress) => void;
  /** Real milliseconds between progress callbacks. */
  progressEveryMs?: number;
  /** ADC sweeps per OD reading (default 40, as on hardware); see SimulatedClusterOptions. */
  adcOversampling?: number;
  /** Skip the chart and CSV files (benchmarks measure the simulation alone). */
  skipOutputs?: boolean;
}

export interface UnitProgress {
  unit: string;
  /** Ground truth from the simulated culture. */
  od: number;
  volumeMl: number;
  vialTemperatureC: number;
  /** What the unit's jobs last published. */
  growthRate?: number;
  nod?: number;
}

export interface SimProgress {
  simulatedMs: number;
  horizonMs: number;
  actionCount: number;
  done: number;
  pending: number;
  wallMs: number;
  units: UnitProgress[];
}

export interface UnitSummary {
  unit: string;
  label?: string;
  finalOd: number;
  finalNod?: number;
  finalGrowthRate?: number;
  finalTemperatureC?: number;
  volumeMl: number;
  mediaAddedMl: number;
  altMediaAddedMl: number;
  wasteRemovedMl: number;
  dosingEvents: number;
  actions: number;
  jobsStarted: Record<string, number>;
  chart?: string;
}

export interface SimulationResult {
  profileName: string;
  experiment: string;
  outcome: RunOutcome;
  startMs: number;
  endMs: number;
  wallMs: number;
  units: UnitSummary[];
  databaseFile: string;
  rowCounts: Record<string, number>;
  csv: ExportedTable[];
  messagesPublished?: number;
}

const COUNTED_TABLES = ["od_readings", "od_readings_filtered", "growth_rates", "temperature_readings", "dosing_events", "led_change_events", "logs"];

/** Units named in the profile's `pioreactors:` section, else two. */
export function unitsForProfile(profile: Profile, requested?: string[]): string[] {
  if (requested && requested.length > 0) return requested;
  const named = Object.keys(profile.pioreactors);
  return named.length > 0 ? named : ["unit1", "unit2"];
}

/** Console lines for the profile's own log (notices and worse), and every job's errors. */
class WatchSink implements LogSink {
  constructor(private readonly log: (line: string) => void) {}
  write(r: LogRecord): void {
    const important = r.task.startsWith("experiment_profile") ? LOG_LEVEL_NUMBERS[r.level] >= LOG_LEVEL_NUMBERS.NOTICE : LOG_LEVEL_NUMBERS[r.level] >= LOG_LEVEL_NUMBERS.ERROR;
    if (important) this.log(`${new Date(r.timeMs).toISOString()} ${r.unit} ${r.task} ${r.level}: ${r.message}`);
  }
}

export async function simulateProfile(o: SimulateProfileOptions): Promise<SimulationResult> {
  const wallStart = Date.now();
  const profile = o.profile ?? validatedProfile(o.text, o.filename, (m) => o.log?.(m));
  const units = unitsForProfile(profile, o.units);
  const seed = o.seed ?? 1;
  const experiment = o.experiment ?? "simulation";
  const startMs = o.startMs ?? Math.floor(Date.now() / 1000) * 1000;
  const mode = o.clock ?? { kind: "fast" };
  const clock: Clock = mode.kind === "fast" ? new SimulationClock(startMs) : new ScaledClock(startMs, mode.speed);
  const plan = buildPlan(profile, { commonUnits: units });
  const horizonMs = startMs + Math.max(plan.endSeconds * 1000, 60_000) + 60_000;

  fs.mkdirSync(o.outDir, { recursive: true });
  const databaseFile = path.join(o.outDir, "pioreactor.sqlite");
  for (const f of [databaseFile, `${databaseFile}-wal`, `${databaseFile}-shm`]) fs.rmSync(f, { force: true });

  const bus = new InProcessBus();
  const sinks: LogSink[] = o.log ? [new WatchSink(o.log)] : [];
  const cluster = await runUntil(
    clock,
    SimulatedCluster.start({
      units,
      experiment,
      clock,
      seed,
      databaseFile,
      connect: async (req) => bus.connect(req),
      configOverrides: o.configOverrides,
      unitParams: o.unitParams,
      logSinks: sinks,
      adcOversampling: o.adcOversampling,
      // Five simulated minutes: a few thousand rows per transaction on a fast clock, where each
      // commit (rewriting the same index pages) was a tenth of the run at 20 s.
      databaseBatchDelayMs: mode.kind === "fast" ? 300_000 : 0,
      // The database is read only once the run is over (a live run's charts are not ours).
      databaseBulkLoad: mode.kind === "fast",
    }),
    "starting the simulated cluster",
    600_000,
  );

  const watched = new SettingHistory(clock, experiment, [
    { job: "dosing_automation", setting: "target_biomass" },
    { job: "temperature_automation", setting: "target_temperature" },
  ]);
  await watched.start(cluster.pubsub);
  const live = new LatestValues();
  await live.start(cluster.pubsub, [`pioreactor/+/${experiment}/growth_rate_calculating/+`]);

  const jobKey = "experiment_profile/1";
  const profileClient = bus.connect({ clientIdBase: "experiment_profile" });
  const logger = new JobLogger({ task: jobKey, source: "app", unit: cluster.leader, experiment }, clock, [...sinks, new MqttLogSink(profileClient)]);
  const lookups = new BusLookups(bus, profileClient, experiment);

  let executor: ProfileExecutor | undefined;
  const snapshot = (): SimProgress => {
    const p = executor?.progress();
    return {
      simulatedMs: clock.now() - startMs,
      horizonMs: horizonMs - startMs,
      actionCount: p?.actionCount ?? 0,
      done: p?.done ?? 0,
      pending: p?.pending ?? 0,
      wallMs: Date.now() - wallStart,
      units: [...cluster.units.values()].map((u) => {
        const r = u.parts.sim.bioreactor.readout();
        const base = `pioreactor/${u.name}/${experiment}/growth_rate_calculating`;
        return {
          unit: u.name,
          od: r.od,
          volumeMl: r.volumeMl,
          vialTemperatureC: r.vialTemperatureC,
          growthRate: live.number(`${base}/growth_rate`, "growth_rate"),
          nod: live.number(`${base}/od_filtered`, "od_filtered"),
        };
      }),
    };
  };
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(snapshot()), o.progressEveryMs ?? 250) : undefined;

  let outcome: RunOutcome;
  try {
    const run = startProfileRun({
      text: o.text,
      filename: o.filename,
      profile,
      experiment,
      jobKey,
      cluster: cluster.client,
      clock,
      logger,
      lookups,
      testing: false,
      random: seededRandom(seed),
      untilMs: horizonMs,
      onExecutor: (ex) => {
        executor = ex;
      },
    });
    outcome = await runUntil(clock, run, "the profile");
  } finally {
    if (ticker) clearInterval(ticker);
  }
  o.onProgress?.(snapshot());
  const endMs = clock.now();
  const finalTruth = new Map([...cluster.units.values()].map((u) => [u.name, u.parts.sim.bioreactor.readout()]));
  await lookups.close();
  await watched.stop();
  await live.stop();
  await profileClient.end();
  await runUntil(clock, cluster.close(), "stopping the simulated units", 600_000);

  const rowCounts = tableCounts(databaseFile, experiment, COUNTED_TABLES);
  const summaries: UnitSummary[] = [];
  for (const u of cluster.units.values()) {
    const data = o.skipOutputs ? undefined : readUnitData(databaseFile, experiment, u.name);
    const finals = data ? finalsOf(data) : readUnitFinals(databaseFile, experiment, u.name);
    const truth = finalTruth.get(u.name)!;
    const label = cluster.client.labels.get(u.name);
    const summary: UnitSummary = {
      unit: u.name,
      ...(label ? { label } : {}),
      finalOd: truth.od,
      finalNod: finals.finalNod,
      finalGrowthRate: finals.finalGrowthRate,
      finalTemperatureC: finals.finalTemperatureC,
      volumeMl: truth.volumeMl,
      mediaAddedMl: truth.cumulativeMediaAddedMl,
      altMediaAddedMl: truth.cumulativeAltMediaAddedMl,
      wasteRemovedMl: truth.cumulativeWasteRemovedMl,
      dosingEvents: finals.dosingEvents,
      actions: cluster.client.actionsByUnit.get(u.name) ?? 0,
      jobsStarted: Object.fromEntries(u.startCounts),
    };
    if (data) {
      const chart = path.join(o.outDir, `${u.name}.svg`);
      fs.writeFileSync(
        chart,
        renderUnitChart({
          data,
          title: `${profile.experiment_profile_name} — ${u.name}${label ? ` (${label})` : ""}`,
          subtitle: `Simulated ${((endMs - startMs) / 3_600_000).toFixed(1)} h from ${new Date(startMs).toISOString()} · seed ${seed} · experiment ${experiment}`,
          startMs,
          endMs,
          targetBiomass: watched.history(u.name, "dosing_automation", "target_biomass"),
          targetTemperature: watched.history(u.name, "temperature_automation", "target_temperature"),
        }),
      );
      summary.chart = chart;
    }
    summaries.push(summary);
  }
  const csv = o.skipOutputs ? [] : exportTablesAsCsv(databaseFile, experiment, path.join(o.outDir, "csv"));
  return {
    profileName: profile.experiment_profile_name,
    experiment,
    outcome,
    startMs,
    endMs,
    wallMs: Date.now() - wallStart,
    units: summaries,
    databaseFile,
    rowCounts,
    csv,
    messagesPublished: bus.stats().published,
  };
}
