/**
 * `pio run profile FILE --simulate`: a profile driving a simulated cluster, start to finish.
 *
 *   validate → leader database + N simulated units (in this thread, or spread over worker threads
 *   on the fast clock: runtime.ts, sharded/) →
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
import { JobLogger, type LogSink, MqttLogSink } from "../jobs/logger";
import type { RunOutcome, ProfileExecutor } from "../profiles/executor";
import { buildPlan } from "../profiles/plan";
import { startProfileRun, validatedProfile } from "../profiles/runner";
import type { Profile } from "../profiles/types";
import type { Clock } from "../util/clock";
import { ScaledClock, SimulationClock } from "./clocks";
import type { SimulatedClusterOptions } from "./cluster";
import { type ExportedTable, exportTablesAsCsv } from "./csv-export";
import { finalsOf, readUnitData, readUnitFinals, tableCounts } from "./run-data";
import { InProcessRuntime, type SimulationRuntime, type UnitFinalState } from "./runtime";
import { seededRandom } from "./seeded-random";
import { defaultShardCount, ShardedRuntime, shardsAvailable } from "./sharded/sharded-runtime";
import { renderUnitChart } from "./unit-chart";
import { WatchSink } from "./watch-sink";

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
  /**
   * Worker threads the units are spread over on the fast clock (default: one per core, at most one
   * per unit); 1 runs everything in this thread.
   */
  threads?: number;
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

  const sinks: LogSink[] = o.log ? [new WatchSink(o.log)] : [];
  const runtimeOptions = {
    units,
    experiment,
    seed,
    databaseFile,
    configOverrides: o.configOverrides,
    unitParams: o.unitParams,
    logSinks: sinks,
    adcOversampling: o.adcOversampling,
    // Five simulated minutes: a few thousand rows per transaction on a fast clock, where each
    // commit (rewriting the same index pages) was a tenth of the run at 20 s.
    databaseBatchDelayMs: mode.kind === "fast" ? 300_000 : 0,
    // The database is read only once the run is over (a live run's charts are not ours).
    databaseBulkLoad: mode.kind === "fast",
  };
  // Worker threads only on the fast clock: at --speed N a person watches, and one thread keeps up.
  const threads = clock instanceof SimulationClock ? Math.min(o.threads ?? defaultShardCount(units.length), units.length) : 1;
  const runtime: SimulationRuntime =
    threads > 1 && clock instanceof SimulationClock && shardsAvailable()
      ? await ShardedRuntime.start({ ...runtimeOptions, clock, shards: threads, log: o.log })
      : await InProcessRuntime.start({ ...runtimeOptions, clock });

  const jobKey = "experiment_profile/1";
  const profileClient = runtime.connectLeader("experiment_profile");
  const logger = new JobLogger({ task: jobKey, source: "app", unit: runtime.leader, experiment }, clock, [...sinks, new MqttLogSink(profileClient)]);

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
      units: runtime.live().map((u) => ({
        unit: u.unit,
        od: u.readout.od,
        volumeMl: u.readout.volumeMl,
        vialTemperatureC: u.readout.vialTemperatureC,
        growthRate: u.growthRate,
        nod: u.nod,
      })),
    };
  };
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(snapshot()), o.progressEveryMs ?? 250) : undefined;

  let outcome: RunOutcome;
  let finals: Map<string, UnitFinalState>;
  let endMs: number;
  try {
    const run = startProfileRun({
      text: o.text,
      filename: o.filename,
      profile,
      experiment,
      jobKey,
      cluster: runtime.client,
      clock,
      logger,
      lookups: runtime.lookups,
      testing: false,
      random: seededRandom(seed),
      untilMs: horizonMs,
      onExecutor: (ex) => {
        executor = ex;
      },
    });
    outcome = await runtime.drive(run, "the profile", undefined, () => executor?.parked ?? false);
    clearInterval(ticker);
    o.onProgress?.(snapshot());
    endMs = clock.now();
    await profileClient.end();
    finals = await runtime.finish();
  } catch (e) {
    clearInterval(ticker);
    // Worker threads would keep the process alive after the error.
    await runtime.abort();
    throw e;
  }

  const rowCounts = tableCounts(databaseFile, experiment, COUNTED_TABLES);
  const summaries: UnitSummary[] = [];
  for (const unit of units) {
    const data = o.skipOutputs ? undefined : readUnitData(databaseFile, experiment, unit);
    const recorded = data ? finalsOf(data) : readUnitFinals(databaseFile, experiment, unit);
    const final = finals.get(unit)!;
    const truth = final.truth;
    const label = runtime.client.labels.get(unit);
    const summary: UnitSummary = {
      unit,
      ...(label ? { label } : {}),
      finalOd: truth.od,
      finalNod: recorded.finalNod,
      finalGrowthRate: recorded.finalGrowthRate,
      finalTemperatureC: recorded.finalTemperatureC,
      volumeMl: truth.volumeMl,
      mediaAddedMl: truth.cumulativeMediaAddedMl,
      altMediaAddedMl: truth.cumulativeAltMediaAddedMl,
      wasteRemovedMl: truth.cumulativeWasteRemovedMl,
      dosingEvents: recorded.dosingEvents,
      actions: runtime.client.actionsByUnit.get(unit) ?? 0,
      jobsStarted: final.startCounts,
    };
    if (data) {
      const chart = path.join(o.outDir, `${unit}.svg`);
      fs.writeFileSync(
        chart,
        renderUnitChart({
          data,
          title: `${profile.experiment_profile_name} — ${unit}${label ? ` (${label})` : ""}`,
          subtitle: `Simulated ${((endMs - startMs) / 3_600_000).toFixed(1)} h from ${new Date(startMs).toISOString()} · seed ${seed} · experiment ${experiment}`,
          startMs,
          endMs,
          targetBiomass: final.settingHistory["dosing_automation/target_biomass"] ?? [],
          targetTemperature: final.settingHistory["temperature_automation/target_temperature"] ?? [],
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
    messagesPublished: runtime.messagesPublished(),
  };
}
