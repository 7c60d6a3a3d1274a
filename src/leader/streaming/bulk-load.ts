/**
 * Loading a database that nothing else reads while it is written (the fast simulation) as fast as
 * SQLite allows, then putting it back as the leader keeps it:
 * - plain secondary indexes are dropped until the end (DeferredIndexes);
 * - row-copying triggers (the activity table's feeds) run once per batch, not once per row
 *   (DeferredTriggers);
 * - no fsync (`synchronous = OFF`);
 * - the rollback journal in memory instead of the WAL, so every page is written once, not to the
 *   WAL and again at each checkpoint (≈ 15 % of the streamer's CPU on a simulated day).
 *
 * A crash during the load can leave the file unusable; a simulation's database is made again by
 * running the simulation again. Not for the real leader: its web server reads while it writes.
 */
import type Database from "better-sqlite3";
import { DeferredIndexes } from "./deferred-indexes";
import { DeferredTriggers } from "./deferred-triggers";

export class BulkLoad {
  private finished = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly indexes: DeferredIndexes,
    private readonly triggers: DeferredTriggers,
  ) {}

  static begin(db: Database.Database): BulkLoad {
    const indexes = DeferredIndexes.drop(db);
    const triggers = DeferredTriggers.drop(db);
    db.pragma("synchronous = OFF");
    // Leaving WAL needs the only connection to the file; with another one open it stays in WAL
    // (slower, nothing else changes).
    db.pragma("journal_mode = MEMORY");
    return new BulkLoad(db, indexes, triggers);
  }

  /** Inside a batch's transaction, after its inserts: the deferred triggers' work for its rows. */
  afterInserts(): void {
    this.triggers.catchUp();
  }

  /** The batch's transaction ended (committed or rolled back). */
  batchEnded(committed: boolean): void {
    if (committed) this.triggers.committed();
    else this.triggers.rolledBack();
  }

  /** Triggers and indexes created again, the file back in WAL mode; later calls do nothing. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.triggers.restore();
    this.indexes.rebuild();
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = 1");
  }
}
