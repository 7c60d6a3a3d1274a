/**
 * Bulk loading for a database that nothing reads while it is written (the fast simulation): the
 * secondary indexes are dropped before the load and created again, from their own SQL text, once
 * it is over. Creating an index sorts its rows once; keeping it costs a B-tree insert per row,
 * about a third of the streamer's SQLite work.
 *
 * Only plain (non-UNIQUE) indexes are deferred: a UNIQUE index is a constraint, and the
 * activity-table triggers upsert through one (ON CONFLICT needs it). Indexes SQLite makes itself
 * (`sqlite_autoindex_*`, no SQL) belong to constraints too and stay.
 *
 * Not for the real leader: its web server reads while the streamer writes.
 */
import type Database from "better-sqlite3";

interface IndexDefinition {
  name: string;
  sql: string;
}

export class DeferredIndexes {
  private constructor(
    private readonly db: Database.Database,
    private pending: IndexDefinition[],
  ) {}

  /** Drops every plain secondary index (in one transaction), remembering how to create it again. */
  static drop(db: Database.Database): DeferredIndexes {
    const plain = db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY rowid")
      .all() as IndexDefinition[];
    // sqlite_master keeps the CREATE statement as written: recreating from it gives the same schema.
    const deferred = plain.filter((ix) => !/^\s*CREATE\s+UNIQUE\s/i.test(ix.sql));
    db.transaction(() => {
      for (const ix of deferred) db.exec(`DROP INDEX "${ix.name.replace(/"/g, '""')}"`);
    })();
    return new DeferredIndexes(db, deferred);
  }

  /** Index names waiting to be created again. */
  get names(): string[] {
    return this.pending.map((ix) => ix.name);
  }

  /** Creates the dropped indexes again (in one transaction); later calls do nothing. */
  rebuild(): void {
    if (this.pending.length === 0) return;
    this.db.transaction(() => {
      for (const ix of this.pending) this.db.exec(ix.sql);
    })();
    this.pending = [];
  }
}
