/**
 * Bulk loading (see BulkLoad): the row triggers that copy each inserted row into another table
 * (the activity table's feeds) are dropped for the load and replaced by the same INSERT run once
 * per batch over the batch's new rows, in rowid order (the order the trigger would have fired in).
 * An upsert per row from inside a trigger was a quarter of the streamer's SQLite time; one
 * statement over a batch costs about half as much. The triggers are created again, from their own
 * SQL, at the end.
 *
 * Only triggers of the shape `AFTER INSERT ON t FOR EACH ROW BEGIN INSERT INTO … VALUES (…) …; END`
 * are deferred; any other stays. Rows of different source tables are applied table by table,
 * which the built-in feeds do not mind (each writes its own columns) and which the fast
 * simulation's batches, grouped by table, already do.
 */
import type Database from "better-sqlite3";

const ROW_COPY_TRIGGER =
  /^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+AFTER\s+INSERT\s+ON\s+("?)(\w+)\1\s+FOR\s+EACH\s+ROW\s+BEGIN\s+(INSERT\s+INTO\s+\w+\s*\([^)]*\))\s*VALUES\s*\((.*?)\)\s*(ON\s+CONFLICT\b.*?)?;\s*END\s*$/is;

interface DeferredTrigger {
  name: string;
  /** As sqlite_master keeps it, to create the trigger again. */
  sql: string;
  /** The trigger's INSERT over the rows after a rowid, in rowid order. */
  catchUp: Database.Statement;
  /** The source table's last rowid (0 when empty). */
  lastRowid: Database.Statement;
  /** Rows up to this rowid have been copied (committed). */
  doneThrough: number;
  /** Where the current batch's catch-up got to, until its transaction commits. */
  pendingThrough: number | undefined;
}

export class DeferredTriggers {
  private constructor(
    private readonly db: Database.Database,
    private pending: DeferredTrigger[],
  ) {}

  /** Drops every row-copying trigger (in one transaction), remembering how to do its work and to create it again. */
  static drop(db: Database.Database): DeferredTriggers {
    const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL ORDER BY rowid").all() as Array<{
      name: string;
      sql: string;
    }>;
    const deferred: DeferredTrigger[] = [];
    db.transaction(() => {
      for (const t of triggers) {
        const m = ROW_COPY_TRIGGER.exec(t.sql);
        if (!m) continue;
        const [, , table, insertHead, values, onConflict] = m;
        // `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint.
        const catchUp = db.prepare(
          `${insertHead} SELECT ${values} FROM "${table}" AS new WHERE new.rowid > ? ORDER BY new.rowid ${onConflict ?? ""}`,
        );
        const lastRowid = db.prepare(`SELECT coalesce(max(rowid), 0) FROM "${table}"`).pluck();
        const doneThrough = lastRowid.get() as number;
        db.exec(`DROP TRIGGER "${t.name.replace(/"/g, '""')}"`);
        deferred.push({ name: t.name, sql: t.sql, catchUp, lastRowid, doneThrough, pendingThrough: undefined });
      }
    })();
    return new DeferredTriggers(db, deferred);
  }

  /** Trigger names waiting to be created again. */
  get names(): string[] {
    return this.pending.map((t) => t.name);
  }

  /** Does the triggers' work for the rows inserted since the last committed catch-up (call inside the batch's transaction). */
  catchUp(): void {
    for (const t of this.pending) {
      const from = t.pendingThrough ?? t.doneThrough;
      const through = t.lastRowid.get() as number;
      if (through > from) t.catchUp.run(from);
      t.pendingThrough = through;
    }
  }

  /** The batch's transaction committed: its rows count as copied. */
  committed(): void {
    for (const t of this.pending) {
      if (t.pendingThrough !== undefined) t.doneThrough = t.pendingThrough;
      t.pendingThrough = undefined;
    }
  }

  /** The batch's transaction rolled back: its rows will come again. */
  rolledBack(): void {
    for (const t of this.pending) t.pendingThrough = undefined;
  }

  /** Copies what is left and creates the triggers again (in one transaction); later calls do nothing. */
  restore(): void {
    if (this.pending.length === 0) return;
    this.db.transaction(() => {
      this.catchUp();
      for (const t of this.pending) this.db.exec(t.sql);
    })();
    this.committed();
    this.pending = [];
  }
}
