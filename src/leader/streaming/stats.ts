/**
 * The streaming job's counters for one 60-second window, written to the intermittent cache
 * `mqtt_to_db_streaming` with the original's keys (the UI's health check reads them):
 * `inserts_in_last_60s`, `database_write_errors_in_last_60s`, `latest_database_write_error`
 * (deleted when the window had none).
 *
 * Added here: `invalid_messages_in_last_60s`, messages refused before reaching the database
 * (the original logged those but counted nothing).
 */

/** The part of a KeyValueCache the statistics need. */
export interface StatsCache {
  set(key: string, value: string | number): void;
  delete(key: string): void;
}

export class StreamingStats {
  inserts = 0;
  writeErrors = 0;
  invalidMessages = 0;
  latestWriteError: string | undefined;

  recordInserts(n: number): void {
    this.inserts += n;
  }

  /** Returns true for the window's first error, which deserves a full log line. */
  recordWriteError(error: Error): boolean {
    this.writeErrors += 1;
    this.latestWriteError = error.message;
    return this.writeErrors === 1;
  }

  /** Returns true while the window's refusals are few enough to log each one. */
  recordInvalid(loggedPerWindow: number): boolean {
    this.invalidMessages += 1;
    return this.invalidMessages <= loggedPerWindow;
  }

  /** Writes the window to the cache and starts a new one. */
  flushTo(cache: StatsCache): void {
    cache.set("inserts_in_last_60s", this.inserts);
    cache.set("database_write_errors_in_last_60s", this.writeErrors);
    cache.set("invalid_messages_in_last_60s", this.invalidMessages);
    if (this.latestWriteError !== undefined) cache.set("latest_database_write_error", this.latestWriteError);
    else cache.delete("latest_database_write_error");
    this.inserts = 0;
    this.writeErrors = 0;
    this.invalidMessages = 0;
    this.latestWriteError = undefined;
  }
}
