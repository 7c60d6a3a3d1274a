/**
 * `backup_database` of the original: an online copy of the leader's SQLite file that does not
 * stop the writers, skipped while the streaming job is busy unless forced.
 *
 * Better than the original: the copy is written to `<output>.tmp` and renamed into place, so a
 * backup interrupted half-way never replaces the previous good one. Copying to workers (rsync)
 * is not done here.
 */
import { renameSync, rmSync, statSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Clock } from "../../util/clock";
import { formatMillisTimestamp } from "../../util/python-format";

/** The original's persistent cache `database_backups`, or anything with the same two calls. */
export interface BackupBookkeeping {
  get(key: string): unknown | Promise<unknown>;
  set(key: string, value: string): void | Promise<void>;
}

export interface BackupLogger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
}

export interface BackupDeps {
  clock: Clock;
  logger?: BackupLogger;
  /** `inserts_in_last_60s` from the streaming job's intermittent cache (the original's busy check). */
  recentInsertCount?: () => number | Promise<number>;
  bookkeeping?: BackupBookkeeping;
  /** Free bytes in a directory; injectable for tests. */
  availableBytes?: (dir: string) => number;
}

export interface BackupOptions {
  databasePath: string;
  /** Default `<databasePath>.backup`, as the original. */
  outputPath?: string;
  force?: boolean;
  /** Skip when the last recorded backup is younger than this (unless forced). */
  minIntervalMs?: number;
  /** Pages copied per step; the original found 50 a good balance between speed and lock time. */
  pagesPerStep?: number;
}

export type BackupResult =
  | { status: "completed"; outputPath: string; timestamp: string }
  | { status: "skipped"; reason: "busy" | "no-space" | "recent"; message: string };

/** How many recent inserts count as "busy" (the original's threshold). */
export const BUSY_INSERTS_PER_MINUTE = 10;
export const LATEST_BACKUP_KEY = "latest_backup_timestamp";

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export async function backupDatabase(opts: BackupOptions, deps: BackupDeps): Promise<BackupResult> {
  const outputPath = opts.outputPath ?? `${opts.databasePath}.backup`;
  const log = deps.logger;
  log?.debug(`Starting backup of database to ${outputPath}`);

  const dbSize = statSync(opts.databasePath).size;
  if ((deps.availableBytes ?? freeBytes)(dirname(outputPath)) < dbSize * 1.1) {
    const message = "Unable to backup database locally. Not enough disk space.";
    log?.warning(message);
    return { status: "skipped", reason: "no-space", message };
  }

  if (!opts.force && deps.recentInsertCount && (await deps.recentInsertCount()) >= BUSY_INSERTS_PER_MINUTE) {
    const message = "Too many writes to proceed with backup. Use --force to force backing up.";
    log?.debug(message);
    return { status: "skipped", reason: "busy", message };
  }

  if (!opts.force && opts.minIntervalMs !== undefined && deps.bookkeeping) {
    const last = await deps.bookkeeping.get(LATEST_BACKUP_KEY);
    const lastMs = typeof last === "string" ? Date.parse(last) : Number.NaN;
    if (Number.isFinite(lastMs) && deps.clock.now() - lastMs < opts.minIntervalMs) {
      const message = `Skipping backup: the last one (${last}) is recent. Use --force to back up anyway.`;
      log?.debug(message);
      return { status: "skipped", reason: "recent", message };
    }
  }

  const timestamp = formatMillisTimestamp(deps.clock.now());
  const tmpPath = `${outputPath}.tmp`;
  const source = new Database(opts.databasePath, { readonly: true, fileMustExist: true });
  try {
    const pages = opts.pagesPerStep ?? 50;
    await source.backup(tmpPath, { progress: () => pages });
    renameSync(tmpPath, outputPath);
  } catch (err) {
    rmSync(tmpPath, { force: true });
    throw err;
  } finally {
    source.close();
  }

  await deps.bookkeeping?.set(LATEST_BACKUP_KEY, timestamp);
  log?.info("Completed backup of database.");
  return { status: "completed", outputPath, timestamp };
}
