/**
 * The run journal: what makes a profile run survive a crash, a power cut or a leader reboot
 * (user asks #1; the original keeps its schedule only in memory).
 *
 * The journal *is* the schedule. Every task the executor queues (a basic action for one unit, or
 * a `when`/`repeat` control task with its state) is a row with its absolute due time and a status:
 *
 *   pending ──► dispatched ──► done | skipped | failed
 *
 * `dispatched` is written synchronously (SQLite WAL, `synchronous=FULL`) immediately before the
 * request leaves; `done` after it is answered. So after a crash:
 * - `pending` rows were never sent: resume runs them (or skips/aborts them if their time passed,
 *   per the policy);
 * - `dispatched` rows may or may not have reached the unit: resume never repeats them (at most
 *   once: starting a pump twice is worse than missing a log line) and says so in the log.
 *
 * Control tasks are updated in the same transaction that inserts the children they schedule, so a
 * repeat iteration is either fully recorded or not at all.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export type TaskStatus = "pending" | "dispatched" | "done" | "skipped" | "failed";

export interface TaskRecord {
  /** Unique within the run; derived from the task's origin, so re-planning gives the same keys. */
  key: string;
  /** The scheduling entry it belongs to (one per top-level action); the early-stop count counts these. */
  group: string;
  unit: string;
  job: string;
  /** `common` or the unit of the `pioreactors` block the action is written in. */
  source: string;
  /** Indexes from the job's action list down to the action (`[2, 0]` = `actions[2].actions[0]`). */
  path: number[];
  dueMs: number;
  status: TaskStatus;
  /** Control-task state (repeat loops, etc.), JSON. */
  state: unknown;
  /** Insertion order: ties at equal due times are broken by it, as the original does. */
  seq: number;
}

export interface RunRecord {
  runId: number;
  profileText: string;
  profileFilename: string;
  experiment: string;
  startMs: number;
  dryRun: boolean;
  jobKey: string;
  status: "running" | "finished" | "stopped" | "aborted" | "failed";
  actionCount: number;
}

/** What the executor writes. `NullJournal` keeps nothing (plans, benchmarks). */
export interface RunJournal {
  readonly runId: number;
  addTasks(tasks: TaskRecord[]): void;
  setStatus(key: string, status: TaskStatus): void;
  /** Move a control task to its next due time with new state (or finish it). */
  updateTask(key: string, dueMs: number, state: unknown, status?: TaskStatus): void;
  setActionCount(n: number): void;
  finish(status: RunRecord["status"]): void;
  /** Runs `fn` atomically. */
  atomically<T>(fn: () => T): T;
  close(): void;
}

export class NullJournal implements RunJournal {
  readonly runId = 0;
  addTasks(): void {}
  setStatus(): void {}
  updateTask(): void {}
  setActionCount(): void {}
  finish(): void {}
  atomically<T>(fn: () => T): T {
    return fn();
  }
  close(): void {}
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS profile_runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  profile_text TEXT NOT NULL,
  profile_filename TEXT NOT NULL,
  experiment TEXT NOT NULL,
  start_ms REAL NOT NULL,
  dry_run INTEGER NOT NULL,
  job_key TEXT NOT NULL,
  status TEXT NOT NULL,
  action_count INTEGER NOT NULL DEFAULT 0,
  updated_ms REAL
);
CREATE TABLE IF NOT EXISTS profile_run_tasks (
  run_id INTEGER NOT NULL REFERENCES profile_runs(run_id),
  key TEXT NOT NULL,
  grp TEXT NOT NULL,
  unit TEXT NOT NULL,
  job TEXT NOT NULL,
  source TEXT NOT NULL,
  path TEXT NOT NULL,
  due_ms REAL NOT NULL,
  status TEXT NOT NULL,
  state TEXT,
  seq INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS profile_run_tasks_open ON profile_run_tasks (run_id, status);
`;

/** The journal database: `$DOT_PIOREACTOR/storage/profile_runs.sqlite` by default. */
export class JournalStore {
  readonly db: Database.Database;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // FULL: a committed status survives a power cut, which is the point of the journal.
    this.db.pragma("synchronous = FULL");
    this.db.exec(SCHEMA);
  }

  createRun(run: Omit<RunRecord, "runId" | "status" | "actionCount">): SqliteRunJournal {
    const info = this.db
      .prepare(
        "INSERT INTO profile_runs (profile_text, profile_filename, experiment, start_ms, dry_run, job_key, status) VALUES (?, ?, ?, ?, ?, ?, 'running')",
      )
      .run(run.profileText, run.profileFilename, run.experiment, run.startMs, run.dryRun ? 1 : 0, run.jobKey);
    return new SqliteRunJournal(this.db, Number(info.lastInsertRowid));
  }

  /** Reopen a run to continue writing to it (resume). */
  openRun(runId: number): SqliteRunJournal {
    this.db.prepare("UPDATE profile_runs SET status = 'running' WHERE run_id = ?").run(runId);
    return new SqliteRunJournal(this.db, runId);
  }

  run(runId: number): RunRecord | undefined {
    const row = this.db.prepare("SELECT * FROM profile_runs WHERE run_id = ?").get(runId) as RunRow | undefined;
    return row ? toRunRecord(row) : undefined;
  }

  /** Runs that never finished: a crash or a reboot interrupted them. Newest first. */
  unfinishedRuns(): RunRecord[] {
    const rows = this.db.prepare("SELECT * FROM profile_runs WHERE status = 'running' ORDER BY run_id DESC").all() as RunRow[];
    return rows.map(toRunRecord);
  }

  tasks(runId: number, statuses?: TaskStatus[]): TaskRecord[] {
    const rows = this.db.prepare("SELECT * FROM profile_run_tasks WHERE run_id = ? ORDER BY due_ms, seq").all(runId) as TaskRow[];
    return rows.filter((r) => !statuses || statuses.includes(r.status as TaskStatus)).map(toTaskRecord);
  }

  close(): void {
    this.db.close();
  }
}

interface RunRow {
  run_id: number;
  profile_text: string;
  profile_filename: string;
  experiment: string;
  start_ms: number;
  dry_run: number;
  job_key: string;
  status: RunRecord["status"];
  action_count: number;
}

interface TaskRow {
  key: string;
  grp: string;
  unit: string;
  job: string;
  source: string;
  path: string;
  due_ms: number;
  status: string;
  state: string | null;
  seq: number;
}

function toRunRecord(r: RunRow): RunRecord {
  return {
    runId: r.run_id,
    profileText: r.profile_text,
    profileFilename: r.profile_filename,
    experiment: r.experiment,
    startMs: r.start_ms,
    dryRun: r.dry_run === 1,
    jobKey: r.job_key,
    status: r.status,
    actionCount: r.action_count,
  };
}

function toTaskRecord(r: TaskRow): TaskRecord {
  return {
    key: r.key,
    group: r.grp,
    unit: r.unit,
    job: r.job,
    source: r.source,
    path: JSON.parse(r.path) as number[],
    dueMs: r.due_ms,
    status: r.status as TaskStatus,
    state: r.state === null ? null : (JSON.parse(r.state) as unknown),
    seq: r.seq,
  };
}

export class SqliteRunJournal implements RunJournal {
  private readonly insert: Database.Statement;
  private readonly status: Database.Statement;
  private readonly update: Database.Statement;
  private readonly count: Database.Statement;
  private seq: number;

  constructor(
    private readonly db: Database.Database,
    readonly runId: number,
  ) {
    this.insert = db.prepare(
      "INSERT OR IGNORE INTO profile_run_tasks (run_id, key, grp, unit, job, source, path, due_ms, status, state, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.status = db.prepare("UPDATE profile_run_tasks SET status = ? WHERE run_id = ? AND key = ?");
    this.update = db.prepare("UPDATE profile_run_tasks SET due_ms = ?, state = ?, status = ? WHERE run_id = ? AND key = ?");
    this.count = db.prepare("UPDATE profile_runs SET action_count = ? WHERE run_id = ?");
    const row = db.prepare("SELECT MAX(seq) AS m FROM profile_run_tasks WHERE run_id = ?").get(runId) as { m: number | null };
    this.seq = (row.m ?? -1) + 1;
  }

  addTasks(tasks: TaskRecord[]): void {
    this.atomically(() => {
      for (const t of tasks) {
        this.insert.run(
          this.runId,
          t.key,
          t.group,
          t.unit,
          t.job,
          t.source,
          JSON.stringify(t.path),
          t.dueMs,
          t.status,
          t.state === null || t.state === undefined ? null : JSON.stringify(t.state),
          this.seq++,
        );
      }
    });
  }

  setStatus(key: string, status: TaskStatus): void {
    this.status.run(status, this.runId, key);
  }

  updateTask(key: string, dueMs: number, state: unknown, status: TaskStatus = "pending"): void {
    this.update.run(dueMs, state === null || state === undefined ? null : JSON.stringify(state), status, this.runId, key);
  }

  setActionCount(n: number): void {
    this.count.run(n, this.runId);
  }

  finish(status: RunRecord["status"]): void {
    this.db.prepare("UPDATE profile_runs SET status = ? WHERE run_id = ?").run(status, this.runId);
  }

  atomically<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn)();
  }

  close(): void {}
}

/** Default journal location. */
export function defaultJournalPath(dotPioreactor: string): string {
  return path.join(dotPioreactor, "storage", "profile_runs.sqlite");
}
