/**
 * The local job registry: the original's `pio_job_metadata` and `pio_job_published_settings`
 * tables in `[storage] temporary_cache`. `pio kill`, `pio jobs`, the unit web API, OD dodging and
 * the Python tools on the same unit all read it, so the schema and value encodings are the original's.
 */
import type Database from "better-sqlite3";
import { PyInt } from "../util/python-format";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pio_job_metadata (
    job_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    unit         TEXT NOT NULL,
    experiment   TEXT NOT NULL,
    job_name     TEXT NOT NULL,
    job_source   TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    is_running   INTEGER NOT NULL,
    leader       TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    is_long_running_job INTEGER NOT NULL,
    ended_at     TEXT
);
CREATE TABLE IF NOT EXISTS pio_job_published_settings (
    setting        TEXT NOT NULL,
    value          BLOB,
    proposed_value BLOB,
    created_at     TEXT,
    updated_at     TEXT,
    job_id         INTEGER NOT NULL,
    FOREIGN KEY(job_id) REFERENCES pio_job_metadata(job_id),
    UNIQUE(setting, job_id)
);
CREATE INDEX IF NOT EXISTS idx_pio_job_metadata_is_running ON pio_job_metadata(is_running);
CREATE INDEX IF NOT EXISTS idx_pio_job_metadata_is_running_experiment ON pio_job_metadata(is_running, experiment);
CREATE INDEX IF NOT EXISTS idx_pio_job_metadata_job_name ON pio_job_metadata(job_name);
CREATE INDEX IF NOT EXISTS idx_pio_job_published_settings_job_id ON pio_job_published_settings(job_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_pio_job_published_settings_setting_job_id ON pio_job_published_settings(setting, job_id);
`;

// SQLite's own clock, as the original writes timestamps (3-digit milliseconds, `Z`).
const NOW = "STRFTIME('%Y-%m-%dT%H:%M:%fZ', 'NOW')";

export interface JobRecord {
  job_id: number;
  unit: string;
  experiment: string;
  job_name: string;
  job_source: string;
  started_at: string;
  is_running: number;
  leader: string;
  pid: number;
  is_long_running_job: number;
  ended_at: string | null;
}

export interface RegisterJob {
  unit: string;
  experiment: string;
  jobName: string;
  jobSource: string;
  pid: number;
  leader: string;
  isLongRunning: boolean;
}

export interface KillFilter {
  job_name?: string;
  experiment?: string;
  job_source?: string;
  job_id?: number;
}

/** Tells whether a process id is alive; injected so tests can simulate dead processes. */
export type PidAlive = (pid: number) => boolean;

export const processIsAlive: PidAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Registry values are stored as the original's sqlite3 adapter would: bools as 0/1, dicts as JSON. */
export function encodeRegistryValue(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof PyInt) return value.value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number" || typeof value === "string") return value;
  return JSON.stringify(value);
}

export interface JobRegistryOptions {
  /**
   * Hold published settings in memory and write only the latest value of each, in one
   * transaction, just before anything reads the registry. Only for a registry no other
   * process reads (a simulated unit's): there every OD reading republishes several settings, and a
   * statement per setting was a tenth of a simulated week. `created_at`/`updated_at` then record
   * when the value was written, not when it was published. Values are encoded when written, too
   * (most are replaced by the next reading before anyone reads them), so a job must not change a
   * value object in place after publishing it — none does: each publish builds a fresh one.
   */
  deferSettingWrites?: boolean;
}

export class JobRegistry {
  /**
   * Deferred setting values (not yet encoded) by `job_id`, then setting; `null`/`undefined`
   * deletes the row. Per job, settings keep the order they were first published in, the order
   * their rows are created in when written at once.
   */
  private readonly pendingSettings = new Map<number, Map<string, unknown>>();
  private readonly deferSettingWrites: boolean;

  constructor(
    private readonly db: Database.Database,
    private readonly isAlive: PidAlive = processIsAlive,
    options: JobRegistryOptions = {},
  ) {
    db.pragma("foreign_keys = ON");
    db.exec(SCHEMA);
    this.deferSettingWrites = options.deferSettingWrites ?? false;
  }

  /**
   * Writes deferred settings. Every method that reads the registry (or removes rows) calls it
   * first, so readers never see stale rows; `register` and `setNotRunning` do not: a pump action
   * runs both, and writing every job's latest settings twice per dose was 2 % of a simulated unit's CPU.
   */
  private flushSettings(): void {
    if (this.pendingSettings.size === 0) return;
    const pending = [...this.pendingSettings];
    this.pendingSettings.clear();
    this.db.transaction(() => {
      for (const [jobId, settings] of pending) {
        for (const [setting, value] of settings) {
          try {
            this.writeSetting(jobId, setting, encodeRegistryValue(value));
          } catch {
            // Its job row was removed meanwhile (`pio jobs purge`): the value has nowhere to go,
            // and the reader that triggered this flush must not fail for it.
          }
        }
      }
    })();
  }

  /** Statements every pump action runs (a turbidostat doses every few minutes), prepared once. */
  private readonly prepared = new Map<string, Database.Statement>();

  private statement(sql: string): Database.Statement {
    let stmt = this.prepared.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.prepared.set(sql, stmt);
    }
    return stmt;
  }

  register(job: RegisterJob): number {
    const info = this
      .statement(
        `INSERT INTO pio_job_metadata (started_at, is_running, job_source, experiment, unit, job_name, leader, pid, is_long_running_job, ended_at)
         VALUES (${NOW}, 1, ?, ?, ?, ?, ?, ?, ?, NULL)`,
      )
      .run(job.jobSource, job.experiment, job.unit, job.jobName, job.leader, job.pid, job.isLongRunning ? 1 : 0);
    return Number(info.lastInsertRowid);
  }

  setNotRunning(jobId: number): void {
    this.statement(`UPDATE pio_job_metadata SET is_running=0, ended_at=${NOW} WHERE job_id=?`).run(jobId);
  }

  /** Every setting a job publishes lands here, so its two statements are prepared once per registry. */
  private upsertStatements: { del: Database.Statement; upsert: Database.Statement } | undefined;

  upsertSetting(jobId: number, setting: string, value: unknown): void {
    if (this.deferSettingWrites) {
      let settings = this.pendingSettings.get(jobId);
      if (settings === undefined) {
        settings = new Map();
        this.pendingSettings.set(jobId, settings);
      }
      settings.set(setting, value);
      return;
    }
    this.writeSetting(jobId, setting, encodeRegistryValue(value));
  }

  private writeSetting(jobId: number, setting: string, encoded: string | number | null): void {
    this.upsertStatements ??= {
      del: this.db.prepare("DELETE FROM pio_job_published_settings WHERE setting = ? AND job_id = ?"),
      upsert: this.db.prepare(
        `INSERT INTO pio_job_published_settings (setting, value, job_id, created_at, updated_at)
         VALUES (?, ?, ?, ${NOW}, ${NOW})
         ON CONFLICT (setting, job_id) DO UPDATE SET value = excluded.value, updated_at = ${NOW}`,
      ),
    };
    if (encoded === null) {
      this.upsertStatements.del.run(setting, jobId);
      return;
    }
    this.upsertStatements.upsert.run(setting, encoded, jobId);
  }

  /**
   * The running job with this name, if any. A row whose process has died (killed with `kill -9`,
   * power loss) is marked stopped here instead of blocking restarts forever, as it does in the original.
   */
  runningJobId(jobName: string): number | undefined {
    this.flushSettings();
    const rows = this.db
      .prepare("SELECT job_id, pid FROM pio_job_metadata WHERE job_name = ? AND is_running = 1 ORDER BY started_at DESC")
      .all(jobName) as Array<{ job_id: number; pid: number }>;
    for (const row of rows) {
      if (this.isAlive(row.pid)) return row.job_id;
      this.setNotRunning(row.job_id);
    }
    return undefined;
  }

  settingOfRunningJob(jobName: string, setting: string): unknown {
    this.flushSettings();
    const row = this.db
      .prepare(
        `SELECT value FROM pio_job_published_settings s JOIN pio_job_metadata m ON s.job_id = m.job_id
         WHERE job_name = ? AND setting = ? AND is_running = 1`,
      )
      .get(jobName, setting) as { value: unknown } | undefined;
    return row?.value;
  }

  runningJobs(): JobRecord[] {
    this.flushSettings();
    return this.db.prepare("SELECT * FROM pio_job_metadata WHERE is_running = 1 ORDER BY job_id").all() as JobRecord[];
  }

  history(runningOnly = false): JobRecord[] {
    this.flushSettings();
    const where = runningOnly ? "WHERE ended_at IS NULL" : "";
    return this.db.prepare(`SELECT * FROM pio_job_metadata ${where} ORDER BY started_at DESC, job_id DESC`).all() as JobRecord[];
  }

  job(jobId: number): JobRecord | undefined {
    this.flushSettings();
    return this.db.prepare("SELECT * FROM pio_job_metadata WHERE job_id = ?").get(jobId) as JobRecord | undefined;
  }

  latestJobByName(jobName: string): JobRecord | undefined {
    this.flushSettings();
    return this.db
      .prepare("SELECT * FROM pio_job_metadata WHERE job_name = ? ORDER BY started_at DESC, job_id DESC LIMIT 1")
      .get(jobName) as JobRecord | undefined;
  }

  settings(jobId: number): Array<{ setting: string; value: unknown; created_at: string; updated_at: string | null }> {
    this.flushSettings();
    return this.db
      .prepare("SELECT setting, value, created_at, updated_at FROM pio_job_published_settings WHERE job_id = ? ORDER BY setting")
      .all(jobId) as Array<{ setting: string; value: unknown; created_at: string; updated_at: string | null }>;
  }

  /** Settings of the running job with this name, as the unit API's `/jobs/settings/job_name/<job>` returns them. */
  settingsOfRunningJob(jobName: string): Record<string, unknown> {
    this.flushSettings();
    const rows = this.db
      .prepare(
        `SELECT setting, value FROM pio_job_published_settings s JOIN pio_job_metadata m ON s.job_id = m.job_id
         WHERE m.job_name = ? AND m.is_running = 1`,
      )
      .all(jobName) as Array<{ setting: string; value: unknown }>;
    return Object.fromEntries(rows.map((r) => [r.setting, r.value]));
  }

  removeJob(jobId: number): number {
    this.flushSettings();
    this.db.prepare("DELETE FROM pio_job_published_settings WHERE job_id = ?").run(jobId);
    return this.db.prepare("DELETE FROM pio_job_metadata WHERE job_id = ?").run(jobId).changes;
  }

  /**
   * Running jobs matching a kill request, in the original's priority order: pumps and heaters stop
   * first, automations next, `led_intensity` last. `allJobs` ignores the filters and skips long-running jobs.
   */
  jobsToKill(filter: KillFilter, allJobs: boolean): JobRecord[] {
    this.flushSettings();
    if (allJobs) {
      return this.db
        .prepare(
          `SELECT *, CASE
             WHEN job_name LIKE '%pump%' THEN 1
             WHEN job_name LIKE '%pwm%' THEN 1
             WHEN job_name LIKE '%temperature%' THEN 2
             WHEN job_name LIKE '%heat%' THEN 2
             WHEN job_name LIKE '%_automation' THEN 3
             ELSE 5 END AS priority
           FROM pio_job_metadata WHERE is_running = 1 AND is_long_running_job = 0 ORDER BY priority, job_id`,
        )
        .all() as JobRecord[];
    }
    const clauses: string[] = [];
    const params: Record<string, string | number> = {};
    for (const key of ["job_name", "experiment", "job_source", "job_id"] as const) {
      const v = filter[key];
      if (v !== undefined && v !== null) {
        clauses.push(`${key} = @${key}`);
        params[key] = v;
      }
    }
    if (clauses.length === 0) return [];
    // SQLite sorts NULL first, so jobs without a priority come before pumps, exactly as in the original.
    return this.db
      .prepare(
        `SELECT *, CASE
           WHEN job_name LIKE '%pump%' THEN 1
           WHEN job_name LIKE '%temperature%' THEN 1
           WHEN job_name LIKE '%heat%' THEN 1
           WHEN job_name LIKE '%pwm%' THEN 1
           WHEN job_name LIKE '%_automation' THEN 2
           WHEN job_name = 'led_intensity' THEN 100
           END AS priority
         FROM pio_job_metadata WHERE is_running = 1 AND ${clauses.join(" AND ")} ORDER BY priority, job_id`,
      )
      .all(params) as JobRecord[];
  }

  clear(): void {
    this.pendingSettings.clear();
    this.db.exec("DELETE FROM pio_job_published_settings; DELETE FROM pio_job_metadata;");
  }
}
