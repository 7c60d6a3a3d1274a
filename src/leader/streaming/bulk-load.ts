/**
 * Loading a database that nothing else reads while it is written (the fast simulation) as fast as
 * SQLite allows, then putting it back as the leader keeps it:
 * - plain secondary indexes are dropped until the end (DeferredIndexes);
 * - no fsync (`synchronous = OFF`);
 * - the rollback journal in memory instead of the WAL, so every page is written once, not to the
 *   WAL and again at each checkpoint (≈ 15 % of the streamer's CPU on a simulated day).
 *
 * A crash during the load can leave the file unusable; a simulation's database is made again by
 * running the simulation again. Not for the real leader: its web server reads while it writes.
 */
import type Database from "better-sqlite3";
import { DeferredIndexes } from "./deferred-indexes";

export class BulkLoad {
  private finished = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly indexes: DeferredIndexes,
  ) {}

  static begin(db: Database.Database): BulkLoad {
    const indexes = DeferredIndexes.drop(db);
    db.pragma("synchronous = OFF");
    // Leaving WAL needs the only connection to the file; with another one open it stays in WAL
    // (slower, nothing else changes).
    db.pragma("journal_mode = MEMORY");
    return new BulkLoad(db, indexes);
  }

  /** Indexes created again, the file back in WAL mode; later calls do nothing. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.indexes.rebuild();
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = 1");
  }
}
