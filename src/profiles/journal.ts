/**
 * The run journal: what makes a profile run survive a crash, a power cut or a leader reboot
 * (user asks #1; the original keeps its schedule only in memory).
 *
 * The journal *is* the schedule. Every task the executor queues (a basic action for one unit, or
 * a `when`/`repeat` control task with its state) is a row with its absolute due time and a status:
 *
 *   pending ──► [armed] ──► dispatched ──► done | skipped | failed
 *
 * `dispatched` is on disk before the request leaves; `done` after it is answered. So after a crash:
 * - `pending` rows were never sent: resume runs them (or skips/aborts them if their time passed,
 *   per the policy);
 * - `dispatched` rows may or may not have reached the unit: resume never repeats them (at most
 *   once: starting a pump twice is worse than missing a log line) and says so in the log.
 *
 * Durability without an fsync on the hot path. The connection commits with `synchronous=NORMAL`
 * (in WAL mode a commit then survives a killed process, not necessarily a power cut); only two
 * writes commit with FULL, and an fsync of the WAL makes every earlier commit durable too:
 * - `arm`: a moment before actions fall due, the scheduler marks those whose unit is free `armed`
 *   in one FULL commit. Their `dispatched` mark is then a NORMAL write right before each request.
 * - `markDispatched`: an action that was not armed (scheduled at short notice, a catch-up) gets a
 *   FULL commit before its request; marks asked for in one event-loop turn share it.
 * After a crash the run record's boot id tells the two cases apart. Same boot (the process died,
 * the OS kept its page cache): every NORMAL commit is there, so `armed` means "never sent" and the
 * action runs. New boot (power cut): an `armed` row's `dispatched` mark may be lost, so it counts
 * as `dispatched`. Losing a `done` mark only turns an action into "may have reached", never into
 * a repeat. So the 50 actions due at one instant cost one fsync, taken before they are due
 * (bench/profile-latency.ts).
 *
 * Control tasks are updated in the same transaction that inserts the children they schedule, so a
 * repeat iteration is either fully recorded or not at all.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export type TaskStatus = "pending" | "armed" | "dispatched" | "done" | "skipped" | "failed";

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
  /** The OS boot the run was last running in (Linux `boot_id`); undefined when unknown. */
  bootId?: string;
}

/** What the executor writes. `NullJournal` keeps nothing (plans, benchmarks). */
export interface RunJournal {
  readonly runId: number;
  addTasks(tasks: TaskRecord[]): void;
  setStatus(key: string, status: TaskStatus): void;
  /** False when nothing is kept: arming ahead would be wasted work. */
  readonly durable: boolean;
  /** Durably mark tasks about to fall due `armed` (one fsync); their `dispatched` mark is then cheap. */
  arm(keys: string[]): void;
  /**
   * Mark a task `dispatched`; resolves once that is on disk, then its request may leave. `durable`
   * (default): fsynced; false for an armed task, whose mark needs only to survive a killed process.
   */
  markDispatched(key: string, durable?: boolean): Promise<void>;
  /** Write whatever is buffered now (the executor calls it when a run ends or is dropped). */
  flush(): void;
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
  readonly durable = false;
  addTasks(): void {}
  setStatus(): void {}
  arm(): void {}
  flush(): void {}
  markDispatched(): Promise<void> {
    return Promise.resolve();
  }
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
  updated_ms REAL,
  boot_id TEXT
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

/** This boot of the OS (Linux); undefined elsewhere, which makes resume treat `armed` rows as sent. */
export function linuxBootId(): string | undefined {
  try {
    return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface JournalStoreOptions {
  /** The current OS boot (default: `linuxBootId()`). */
  bootId?: string | undefined;
}

/** The journal database: `$DOT_PIOREACTOR/storage/profile_runs.sqlite` by default. */
export class JournalStore {
  readonly db: Database.Database;
  readonly bootId: string | undefined;

  constructor(file: string, options: JournalStoreOptions = {}) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.bootId = "bootId" in options ? options.bootId : linuxBootId();
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // NORMAL by default; the commits that must survive a power cut ask for FULL (see the file comment).
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(SCHEMA);
    const columns = this.db.prepare("PRAGMA table_info(profile_runs)").all() as Array<{ name: string }>;
    // Journals written before boot ids were kept.
    if (!columns.some((c) => c.name === "boot_id")) this.db.exec("ALTER TABLE profile_runs ADD COLUMN boot_id TEXT");
  }

  createRun(run: Omit<RunRecord, "runId" | "status" | "actionCount">): SqliteRunJournal {
    const info = this.db
      .prepare(
        "INSERT INTO profile_runs (profile_text, profile_filename, experiment, start_ms, dry_run, job_key, status, boot_id) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
      )
      .run(run.profileText, run.profileFilename, run.experiment, run.startMs, run.dryRun ? 1 : 0, run.jobKey, this.bootId ?? null);
    return new SqliteRunJournal(this.db, Number(info.lastInsertRowid));
  }

  /** Reopen a run to continue writing to it (resume). */
  openRun(runId: number): SqliteRunJournal {
    this.db.prepare("UPDATE profile_runs SET status = 'running', boot_id = ? WHERE run_id = ?").run(this.bootId ?? null, runId);
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
  boot_id: string | null;
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
    ...(r.boot_id ? { bootId: r.boot_id } : {}),
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

/**
 * Writes are ordered as the executor makes them. Status marks and the action count are buffered and
 * written together at the end of the event-loop turn (one commit for all the actions of an instant
 * instead of one each); every other write first flushes the buffer, and a status written inside a
 * transaction goes straight into it. A mark lost in a crash before its flush can only make an action
 * look "may have reached" (a `done` mark) or "pending" with no request sent (a skip).
 */
export class SqliteRunJournal implements RunJournal {
  readonly durable = true;
  private readonly insert: Database.Statement;
  private readonly status: Database.Statement;
  private readonly update: Database.Statement;
  private readonly count: Database.Statement;
  /** Prepared once: `db.pragma()` prepares its statement on every call, and an unarmed `dispatched` mark waits for this commit. */
  private readonly syncFull: Database.Statement;
  private readonly syncNormal: Database.Statement;
  /** One transaction wrapper for every commit: `db.transaction(fn)` builds a new one per call (≈ 27 µs, on the dispatch path). */
  private readonly transact: (fn: () => unknown) => unknown;
  private seq: number;
  private readonly buffered = new Map<string, TaskStatus>();
  private bufferedCount: number | undefined;
  /** Who waits for the buffered `dispatched` marks to be on disk, and whether one of them needs an fsync. */
  private waiters: Array<{ resolve(): void; reject(e: unknown): void }> = [];
  private needsFsync = false;
  private flushScheduled = false;

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
    this.syncFull = db.prepare("PRAGMA synchronous = FULL");
    this.syncNormal = db.prepare("PRAGMA synchronous = NORMAL");
    this.transact = db.transaction((fn: () => unknown) => fn());
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
    if (this.db.inTransaction) {
      this.buffered.delete(key);
      this.status.run(status, this.runId, key);
      return;
    }
    this.buffered.set(key, status);
    this.scheduleFlush();
  }

  /**
   * `durable`: the commit must survive a power cut (an action that was not armed). An armed action's
   * mark only has to survive a killed process, which any commit does.
   */
  markDispatched(key: string, durable = true): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buffered.set(key, "dispatched");
      this.waiters.push({ resolve, reject });
      if (durable) this.needsFsync = true;
      this.scheduleFlush();
    });
  }

  arm(keys: string[]): void {
    if (keys.length === 0) return;
    this.flush();
    this.fullyDurable(() => {
      for (const key of keys) this.status.run("armed", this.runId, key);
    });
  }

  updateTask(key: string, dueMs: number, state: unknown, status: TaskStatus = "pending"): void {
    if (!this.db.inTransaction) this.flush();
    this.buffered.delete(key);
    this.update.run(dueMs, state === null || state === undefined ? null : JSON.stringify(state), status, this.runId, key);
  }

  setActionCount(n: number): void {
    this.bufferedCount = n;
    this.scheduleFlush();
  }

  finish(status: RunRecord["status"]): void {
    this.flush();
    this.db.prepare("UPDATE profile_runs SET status = ? WHERE run_id = ?").run(status, this.runId);
  }

  atomically<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.flush();
    return this.transact(fn) as T;
  }

  /** Write everything buffered now, in one commit (with an fsync if a `dispatched` mark needs one). */
  flush(): void {
    if (this.buffered.size === 0 && this.bufferedCount === undefined && this.waiters.length === 0) return;
    const statuses = [...this.buffered];
    const count = this.bufferedCount;
    const waiters = this.waiters;
    const fsync = this.needsFsync;
    this.buffered.clear();
    this.bufferedCount = undefined;
    this.waiters = [];
    this.needsFsync = false;
    const write = () => {
      for (const [key, status] of statuses) this.status.run(status, this.runId, key);
      if (count !== undefined) this.count.run(count, this.runId);
    };
    try {
      if (fsync) this.fullyDurable(write);
      else this.transact(write);
    } catch (err) {
      for (const w of waiters) w.reject(err);
      return;
    }
    for (const w of waiters) w.resolve();
  }

  close(): void {
    if (this.db.open) this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.db.open) this.flush();
      else for (const w of this.waiters.splice(0)) w.reject(new Error("The profile journal was closed."));
    });
  }

  /** One transaction committed with an fsync, which makes every earlier NORMAL commit durable too. */
  private fullyDurable(fn: () => void): void {
    this.syncFull.run();
    try {
      this.transact(fn);
    } finally {
      this.syncNormal.run();
    }
  }
}

/** Default journal location. */
export function defaultJournalPath(dotPioreactor: string): string {
  return path.join(dotPioreactor, "storage", "profile_runs.sqlite");
}
