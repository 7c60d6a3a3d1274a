/**
 * The simulated cluster's leader: the SQLite database (migrated to the original's schema, with
 * the experiment, the workers and their assignments recorded as the UI would have), and the
 * `mqtt_to_db_streaming` job itself, fed from the in-process bus through an IngestSource.
 */
import Database from "better-sqlite3";
import { migrateToLatest } from "../leader/db/migrate";
import { openDatabase } from "../leader/db/open";
import { configureSqliteConnection } from "../leader/db/sqlite-pragmas";
import { MqttToDbStreamer } from "../leader/streaming/job";
import type { IngestConnection, IngestHandler, IngestSource } from "../leader/streaming/mqtt-ingest";
import { BulkLoad } from "../leader/streaming/bulk-load";
import { SqliteRowStore } from "../leader/streaming/sqlite-row-store";
import type { JobDeps } from "../jobs/background-job";
import type { KeyValueCache } from "../jobs/local-storage";
import type { PubSubClient } from "../pubsub/types";
import { formatMillisTimestamp } from "../util/python-format";

export interface LeaderDatabaseSetup {
  file: string;
  experiment: string;
  description?: string;
  units: readonly string[];
  nowMs: number;
}

/** Creates (or adopts) the leader database and records the experiment and its simulated workers. */
export async function prepareLeaderDatabase(s: LeaderDatabaseSetup): Promise<void> {
  const knex = openDatabase({ client: "sqlite", filename: s.file });
  try {
    await migrateToLatest(knex);
    const at = formatMillisTimestamp(s.nowMs);
    await knex("experiments").insert({ experiment: s.experiment, created_at: at, description: s.description ?? "Simulated run" }).onConflict("experiment").ignore();
    for (const unit of s.units) {
      await knex("workers").insert({ pioreactor_unit: unit, added_at: at, model_name: "pioreactor_40ml", model_version: "1.5", is_active: 1 }).onConflict("pioreactor_unit").ignore();
      await knex("experiment_worker_assignments").insert({ pioreactor_unit: unit, experiment: s.experiment, assigned_at: at }).onConflict("pioreactor_unit").merge();
    }
  } finally {
    await knex.destroy();
  }
}

/**
 * The streamer's data connection over any PubSubClient. An in-process bus cannot be paused, so
 * the streamer's back-pressure promise is simply not waited for: the writer's backlog grows instead
 * (it never drops rows) and drains between clock steps.
 */
export class PubSubIngestSource implements IngestSource {
  constructor(private readonly open_: () => Promise<PubSubClient>) {}

  async open(filters: readonly string[], handler: IngestHandler): Promise<IngestConnection> {
    const client = await this.open_();
    await client.subscribe([...filters], (m) => void handler({ topic: m.topic, payload: m.payload, retain: m.retain }), { qos: 1, allowRetained: false });
    return { close: () => client.end() };
  }
}

export interface StreamerSetup {
  deps: JobDeps;
  databaseFile: string;
  ingest: IngestSource;
  statsCache: KeyValueCache;
  /**
   * How long (simulated ms) the first row of a batch waits for company. On a fast simulated clock
   * thousands of messages arrive per wall-clock millisecond, so a few simulated seconds turn
   * thousands of tiny transactions into a few large ones; rows are never dropped either way.
   */
  batchDelayMs?: number;
  /**
   * Nothing reads the database until the run is over (the fast clock): it is bulk loaded (see
   * BulkLoad: indexes dropped for the run, no fsync, no WAL), and each batch is inserted
   * table by table, many rows per statement (SqliteRowStore's groupByTable). Not for a live simulation,
   * whose charts query while it runs.
   */
  bulkLoad?: boolean;
}

/**
 * The leader writer's connection as `SqliteRowStore.open` makes it, without the memory map: a
 * simulated week's database outgrows the 256 MB map, and every mapped page it touches counts as
 * the run's resident memory (issue 6 caps that at 500 MB), for nothing an insert-only run needs.
 */
function simulationRowStore(file: string, bulkLoad: boolean): SqliteRowStore {
  const db = new Database(file, { timeout: 15000 });
  configureSqliteConnection(db, { foreignKeys: false });
  db.pragma("wal_autocheckpoint = 4000");
  return new SqliteRowStore(db, bulkLoad ? { bulkLoad: BulkLoad.begin(db), groupByTable: true } : {});
}

export async function startStreamer(s: StreamerSetup): Promise<MqttToDbStreamer> {
  const streamer = new MqttToDbStreamer(s.deps, {
    ingest: s.ingest,
    store: simulationRowStore(s.databaseFile, s.bulkLoad ?? false),
    statsCache: s.statsCache,
    writer: { batchDelayMs: s.batchDelayMs ?? 0 },
  });
  return streamer.start();
}
