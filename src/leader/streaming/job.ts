/**
 * `mqtt_to_db_streaming`: the leader's long-running job that stores what the cluster publishes
 * (readings, events, logs) in the leader database. Runs under `$experiment`.
 *
 * Parts (all injected): an IngestSource (a persistent MQTT session with flow control,
 * mqtt-ingest.ts), the sinks (topic → rows, sinks.ts), a RowStore (SQLite or PostgreSQL) behind
 * the batching writer (writer.ts), and the intermittent cache for the 60-second statistics.
 *
 * Differences from the original, on purpose:
 * - the data session survives restarts (stable client id), so a restart loses nothing that was
 *   published with QoS ≥ 1 meanwhile;
 * - a slow database slows the broker down instead of dropping rows after 5 s;
 * - refused messages are counted (`invalid_messages_in_last_60s`), and logged one by one up to
 *   10 per minute, then summarised, so one misbehaving unit cannot flood the logs table.
 */
import path from "node:path";
import { BackgroundJob, errorMessage, type JobDeps } from "../../jobs/background-job";
import type { JobCommand } from "../../jobs/job-command";
import { runInForeground } from "../../jobs/job-command";
import { mqttOptionsFromConfig } from "../../pubsub/client";
import type { TimerHandle } from "../../util/clock";
import { databaseTargetFromConfig, openDatabase } from "../db/open";
import { KnexRowStore } from "./knex-row-store";
import { type IngestConnection, type IngestMessage, type IngestSource, MqttIngestSource } from "./mqtt-ingest";
import type { RowStore } from "./row-store";
import { StreamingSinks } from "./sinks";
import { SqliteRowStore } from "./sqlite-row-store";
import { type StatsCache, StreamingStats } from "./stats";
import { BatchingRowWriter, type RowWriterOptions } from "./writer";

export const STREAMING_JOB_NAME = "mqtt_to_db_streaming";
/** The experiment the leader's long-running jobs run under. */
export const UNIVERSAL_EXPERIMENT = "$experiment";

const STATS_INTERVAL_MS = 60_000;
const INVALID_LOGGED_PER_WINDOW = 10;

export interface StreamerParts {
  ingest: IngestSource;
  store: RowStore;
  /** The intermittent cache `mqtt_to_db_streaming`. */
  statsCache: StatsCache;
  sinks?: StreamingSinks;
  writer?: Omit<RowWriterOptions, "store" | "clock" | "onBatchWritten" | "onRowError" | "onBatchFailure">;
}

export class MqttToDbStreamer extends BackgroundJob {
  private readonly parts: StreamerParts;
  private readonly sinks: StreamingSinks;
  private readonly stats = new StreamingStats();
  private writer: BatchingRowWriter | undefined;
  private connection: IngestConnection | undefined;
  private statsTimer: TimerHandle | undefined;
  private latestInvalid: string | undefined;

  constructor(deps: JobDeps, parts: StreamerParts) {
    super(deps, { jobName: STREAMING_JOB_NAME, settings: {}, longRunning: true });
    this.parts = parts;
    this.sinks = parts.sinks ?? new StreamingSinks();
  }

  /** Rows accepted but not yet committed (for tests and the benchmark). */
  get backlog(): number {
    return this.writer?.backlog ?? 0;
  }

  /** Resolves when everything received so far is in the database. */
  whenWritten(): Promise<void> {
    return this.writer?.whenIdle() ?? Promise.resolve();
  }

  protected override async setup(): Promise<void> {
    this.logger.debug(`Streaming MQTT data to ${this.parts.store.description}.`);
    this.writer = new BatchingRowWriter({
      ...this.parts.writer,
      store: this.parts.store,
      clock: this.clock,
      onBatchWritten: (r) => this.stats.recordInserts(r.inserted),
      onRowError: (e) => {
        if (this.stats.recordWriteError(e.error)) {
          this.logger.error(`Unable to persist MQTT data to the database: ${e.error.message}. Data may not be saved.`);
          this.logger.debug(`SQL that failed: \`${e.sql}\` with values \`${JSON.stringify(e.row)}\``);
        }
      },
      onBatchFailure: (e, attempt, rows) => {
        const first = this.stats.recordWriteError(e);
        if (first || attempt === 1) {
          this.logger.error(`Unable to write ${rows} rows to the database: ${e.message}. Retrying; nothing is dropped.`);
        }
      },
    });
    const filters = this.sinks.subscriptions();
    this.connection = await this.parts.ingest.open(filters, (m) => this.onMessage(m), {
      debug: (m) => this.logger.debug(m),
      info: (m) => this.logger.info(m),
      warn: (m) => this.logger.warning(m),
      error: (m) => this.logger.error(m),
    });
    this.logger.debug(`Listening to ${filters.length} topic filters.`);
    this.statsTimer = this.every(STATS_INTERVAL_MS, () => this.writeStats());
  }

  private onMessage(message: IngestMessage): void | Promise<void> {
    if (message.retain) return;
    const routed = this.sinks.route(message.topic, message.payload, this.clock.now());
    for (const reason of routed.invalid) this.refuse(message.topic, reason);
    if (routed.rows.length === 0 || !this.writer) return;
    this.writer.add(routed.rows);
    // Back-pressure: hold the broker until the backlog is down to the low-water mark.
    if (!this.writer.accepting) return this.writer.whenAccepting();
  }

  private refuse(topic: string, reason: string): void {
    this.latestInvalid = `${topic}: ${reason}`;
    if (this.stats.recordInvalid(INVALID_LOGGED_PER_WINDOW)) {
      this.logger.warning(`Refused a message on ${topic}, not stored: ${reason}.`);
    }
  }

  private writeStats(): void {
    const unlogged = this.stats.invalidMessages - INVALID_LOGGED_PER_WINDOW;
    if (unlogged > 0) {
      this.logger.warning(`Refused ${unlogged} more invalid messages in the last 60 s, not stored (latest: ${this.latestInvalid}).`);
    }
    this.stats.flushTo(this.parts.statsCache);
  }

  protected override async onDisconnected(): Promise<void> {
    this.statsTimer?.cancel();
    // Stop receiving first: what the broker has not delivered stays queued in our session.
    try {
      await this.connection?.close();
    } catch (e) {
      this.logger.debug(`Closing the data connection failed: ${errorMessage(e)}`);
    }
    const unwritten = (await this.writer?.close()) ?? 0;
    if (unwritten > 0) {
      this.logger.error(`${unwritten} received rows could not be written to the database before exiting.`);
    }
    await this.parts.store.close().catch((e) => this.logger.debug(`Closing the database failed: ${errorMessage(e)}`));
  }
}

/** The RowStore `[storage]` names: PostgreSQL when `database_url` is set, else the SQLite file. */
export function rowStoreFromConfig(config: Parameters<typeof databaseTargetFromConfig>[0], cwd: string): RowStore {
  const target = databaseTargetFromConfig(config);
  if (target.client === "sqlite") return SqliteRowStore.open(path.resolve(cwd, target.filename));
  const shown = typeof target.connection === "string" ? target.connection.replace(/\/\/[^@/]*@/, "//") : "PostgreSQL";
  return new KnexRowStore(openDatabase(target), shown);
}

/**
 * `pio run mqtt_to_db_streaming` (leader only). `registerPlugins` receives the sinks before the
 * job subscribes: plugins add their topic → table mappings there.
 */
export function createMqttToDbStreamingCommand(registerPlugins?: (sinks: StreamingSinks) => void): JobCommand {
  return {
    name: STREAMING_JOB_NAME,
    summary: "(leader only) Send MQTT streams to the database.",
    options: [],
    leaderOnly: true,
    async run({ ctx }) {
      const deps = await ctx.jobDeps(UNIVERSAL_EXPERIMENT);
      const mqtt = mqttOptionsFromConfig(ctx.config, ctx.env);
      const sinks = new StreamingSinks();
      registerPlugins?.(sinks);
      const job = new MqttToDbStreamer(deps, {
        ingest: new MqttIngestSource({
          url: mqtt.url,
          username: mqtt.username,
          password: mqtt.password,
          clientId: `${STREAMING_JOB_NAME}-ingest-${ctx.unit}`,
          mqttDebugLog: /mqttjs/.test(ctx.env.DEBUG ?? ""),
        }),
        store: rowStoreFromConfig(ctx.config, ctx.cwd),
        statsCache: ctx.intermittentCache(STREAMING_JOB_NAME),
        sinks,
      });
      await job.start();
      return runInForeground(job);
    },
  };
}

export const mqttToDbStreamingCommand: JobCommand = createMqttToDbStreamingCommand();
