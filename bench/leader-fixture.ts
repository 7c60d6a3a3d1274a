/**
 * A leader for the web benchmarks: a temp `$DOT_PIOREACTOR` with config.ini, a SQLite file brought
 * to the schema by the project's migrations and filled with a long experiment, and the real express
 * app listening on loopback. Job launching and MQTT publishing answer without doing anything: the
 * routes measured here only read.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Knex } from "knex";
import { IniDocument } from "../src/config/ini";
import { LayeredConfig } from "../src/config/layered";
import { JobRegistry } from "../src/jobs/registry";
import { migrateToLatest } from "../src/leader/db/migrate";
import { openDatabase } from "../src/leader/db/open";
import { createApp } from "../src/leader/web/app";
import { type RunningServer, startServer } from "../src/leader/web/server";
import { RealClock } from "../src/util/clock";

export const EXPERIMENT = "Long run";

export interface FillPlan {
  units: number;
  /** od_readings rows per unit (channel 1, one reading every `odEverySeconds`). */
  odRowsPerUnit: number;
  odEverySeconds: number;
  growthRowsPerUnit: number;
  temperatureRowsPerUnit: number;
  logRowsPerUnit: number;
}

export const DEFAULT_PLAN: FillPlan = {
  units: 4,
  odRowsPerUnit: 500_000,
  odEverySeconds: 5,
  growthRowsPerUnit: 100_000,
  temperatureRowsPerUnit: 20_000,
  logRowsPerUnit: 5_000,
};

const iso = (ms: number) => new Date(ms).toISOString();

/** Creates (or reuses, when `file` exists) a migrated database holding one long experiment. */
export async function buildDatabase(file: string, plan: FillPlan, nowMs: number): Promise<{ seconds: number; rows: number }> {
  const started = Date.now();
  const knex = openDatabase({ client: "sqlite", filename: file });
  await migrateToLatest(knex);
  await knex.destroy();
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = 1");
  const spanMs = plan.odRowsPerUnit * plan.odEverySeconds * 1000;
  const startMs = nowMs - spanMs;
  let rows = 0;
  const units = Array.from({ length: plan.units }, (_, i) => `worker${i + 1}`);
  db.transaction(() => {
    db.prepare("INSERT INTO experiments (experiment, created_at, description) VALUES (?, ?, ?)").run("Older run", iso(startMs - 86_400_000), "");
    db.prepare("INSERT INTO experiments (experiment, created_at, description) VALUES (?, ?, ?)").run(EXPERIMENT, iso(startMs), "a month of four units");
    const worker = db.prepare("INSERT INTO workers (pioreactor_unit, added_at, model_name, model_version, is_active) VALUES (?, ?, 'pioreactor_40ml', '1.5', 1)");
    const assign = db.prepare("INSERT INTO experiment_worker_assignments (pioreactor_unit, experiment, assigned_at) VALUES (?, ?, ?)");
    for (const u of units) {
      worker.run(u, iso(startMs));
      assign.run(u, EXPERIMENT, iso(startMs));
    }
  })();
  const fill = (sql: string, perUnit: number, row: (u: string, i: number, t: string) => unknown[]) => {
    if (perUnit === 0) return;
    const stmt = db.prepare(sql);
    const every = spanMs / perUnit;
    db.transaction(() => {
      for (const u of units) {
        for (let i = 0; i < perUnit; i++) stmt.run(row(u, i, iso(startMs + (i + 1) * every)));
      }
    })();
    rows += perUnit * units.length;
  };
  fill("INSERT INTO od_readings (experiment, pioreactor_unit, timestamp, od_reading, angle, channel) VALUES (?, ?, ?, ?, 90, 1)", plan.odRowsPerUnit, (u, i, t) => [
    EXPERIMENT,
    u,
    t,
    0.05 + (i / plan.odRowsPerUnit) * 1.2 + Math.sin(i) * 0.001,
  ]);
  fill("INSERT INTO growth_rates (experiment, pioreactor_unit, timestamp, rate) VALUES (?, ?, ?, ?)", plan.growthRowsPerUnit, (u, i, t) => [
    EXPERIMENT,
    u,
    t,
    0.2 + Math.sin(i / 500) * 0.05,
  ]);
  fill(
    "INSERT INTO temperature_readings (experiment, pioreactor_unit, timestamp, temperature_c) VALUES (?, ?, ?, ?)",
    plan.temperatureRowsPerUnit,
    (u, i, t) => [EXPERIMENT, u, t, 30 + Math.sin(i / 50) * 0.3],
  );
  fill(
    "INSERT INTO logs (experiment, pioreactor_unit, timestamp, message, source, level, task) VALUES (?, ?, ?, ?, 'app', ?, 'dosing_automation')",
    plan.logRowsPerUnit,
    (u, i, t) => [EXPERIMENT, u, t, `Dosed ${i % 7} mL`, i % 10 === 0 ? "NOTICE" : i % 3 === 0 ? "DEBUG" : "INFO"],
  );
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.exec("ANALYZE");
  db.close();
  return { seconds: (Date.now() - started) / 1000, rows };
}

export interface BenchLeader {
  dir: string;
  url: string;
  db: Knex;
  server: RunningServer;
  close(): Promise<void>;
}

/**
 * The real app on 127.0.0.1 over `dbFile`, with a config.ini naming it. `mmapBytes` overrides how
 * much of the file the app's connection maps (default: the original's 256 MiB).
 */
export async function startBenchLeader(dbFile: string, opts: { mmapBytes?: number } = {}): Promise<BenchLeader> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-leader-"));
  const dot = path.join(dir, ".pioreactor");
  fs.mkdirSync(path.join(dot, "experiment_profiles"), { recursive: true });
  const configText = fs
    .readFileSync(path.join(__dirname, "..", "..", "config", "config.example.ini"), "utf8")
    .replace(/^database=.*$/m, `database=${dbFile}`);
  fs.writeFileSync(path.join(dot, "config.ini"), configText);
  fs.writeFileSync(
    path.join(dot, "experiment_profiles", "demo.yaml"),
    fs.readFileSync(path.join(__dirname, "..", "..", "profiles", "demo.yaml"), "utf8"),
  );
  const config = LayeredConfig.fromDocuments(IniDocument.parse(configText));
  const db = openDatabase({ client: "sqlite", filename: dbFile, recursiveTriggers: true, mmapBytes: opts.mmapBytes });
  const { app } = createApp({
    unitName: "leader",
    isLeader: true,
    dotPioreactor: dot,
    config: () => config,
    db,
    clock: new RealClock(),
    mqtt: { publish: async () => {} },
    registry: new JobRegistry(new Database(":memory:")),
    jobLauncher: { launch: async () => ({ ok: true }) },
    jobStopper: { stop: async () => 0, stopAll: async () => 0 },
    fetch,
    reportError: (e) => console.error(e),
  });
  const server = await startServer(app, { port: 0, host: "127.0.0.1" });
  return {
    dir,
    url: server.url,
    db,
    server,
    async close() {
      await server.close();
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
