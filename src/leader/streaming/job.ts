/**
 * `mqtt_to_db_streaming`: the leader's long-running job that stores what the cluster publishes
 * (readings, events, logs) in the leader database. Runs under `$experiment`.
 *
 * Parts (all injected): an IngestSource (a persistent MQTT session with flow control,
 * mqtt-ingest.ts), the sinks (topic → rows, sinks.ts), a RowStore (SQLite on this thread or from a
 * writer thread, or PostgreSQL) behind the batching writer (writer.ts), and the intermittent cache
 * for the 60-second statistics.
 *
 * Differences from the original, on purpose:
 * - the data session survives restarts (stable client id), so a restart loses nothing that was
 *   published with QoS ≥ 1 meanwhile;
 * - a slow database slows the broker down instead of dropping rows after 5 s, and a burst is read
 *   and acknowledged first and decoded after, so a broker with a small queue per client (a
 *   Pioreactor's Mosquitto) does not drop it;
 * - refused messages are counted (`invalid_messages_in_last_60s`), and logged one by one up to
 *   10 per minute, then summarised, so one misbehaving unit cannot flood the logs table.
 */
import path from "node:path";
import { BackgroundJob, errorMessage, type JobDeps } from "../../jobs/background-job";
import type { JobCommand } from "../../jobs/job-command";
import { runInForeground } from "../../jobs/job-command";
import { mqttOptionsFromConfig } from "../../pubsub/client";
import type { TimerHandle } from "../../util/clock";
import { DEFAULT_MMAP_BYTES, databaseTargetFromConfig, openDatabase } from "../db/open";
import { KnexRowStore } from "./knex-row-store";
import { type IngestConnection, type IngestMessage, type IngestSource, MqttIngestSource } from "./mqtt-ingest";
import type { RowStore } from "./row-store";
import { StreamingSinks } from "./sinks";
import { SqliteRowStore } from "./sqlite-row-store";
import { SqliteWorkerRowStore } from "./sqlite-worker-row-store";
import { type StatsCache, StreamingStats } from "./stats";
import { BatchingRowWriter, OFF_THREAD_BATCH_ROWS, type RowWriterOptions } from "./writer";

export const STREAMING_JOB_NAME = "mqtt_to_db_streaming";
/** The experiment the leader's long-running jobs run under. */
export const UNIVERSAL_EXPERIMENT = "$experiment";

const STATS_INTERVAL_MS = 60_000;
const INVALID_LOGGED_PER_WINDOW = 10;
/**
 * Messages received but not yet stored at which the job stops acknowledging (≈ 30 MB of raw
 * messages). A Pioreactor's Mosquitto keeps at most 1,000 in flight and 1,000 queued for us and
 * drops the rest, so a burst must be absorbed here, not left to the broker.
 */
const DEFAULT_HIGH_WATER = 100_000;
/** Messages decoded per turn of the event loop: reading and acknowledging come first. */
const DECODED_PER_TURN = 500;

interface Received {
  topic: string;
  payload: Buffer;
  receivedAt: number;
}

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
  /** Received, acknowledged, not yet decoded: `received[receivedHead…]`. */
  private received: Received[] = [];
  private receivedHead = 0;
  private decodeScheduled = false;
  private waitingForWriter = false;
  private highWater = DEFAULT_HIGH_WATER;
  private lowWater = DEFAULT_HIGH_WATER / 2;
  private holding = false;
  private holdWaiters: Array<() => void> = [];

  constructor(deps: JobDeps, parts: StreamerParts) {
    super(deps, { jobName: STREAMING_JOB_NAME, settings: {}, longRunning: true });
    this.parts = parts;
    this.sinks = parts.sinks ?? new StreamingSinks();
  }

  /** Messages received and rows decoded but not yet committed (for tests and the benchmark). */
  get backlog(): number {
    return this.undecoded + (this.writer?.backlog ?? 0);
  }

  private get undecoded(): number {
    return this.received.length - this.receivedHead;
  }

  /** Resolves when everything received so far is in the database. */
  async whenWritten(): Promise<void> {
    for (;;) {
      while (this.undecoded > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      await this.writer?.whenIdle();
      if (this.undecoded === 0) return;
    }
  }

  protected override async setup(): Promise<void> {
    this.logger.debug(`Streaming MQTT data to ${this.parts.store.description}.`);
    // The job's high-water mark counts everything not yet stored; the writer only needs a few
    // batches decoded ahead, so the rest waits undecoded (cheaper, and decoded on our schedule).
    this.highWater = this.parts.writer?.highWaterRows ?? DEFAULT_HIGH_WATER;
    this.lowWater = this.parts.writer?.lowWaterRows ?? Math.floor(this.highWater / 2);
    const batchRows = this.parts.writer?.maxBatchRows ?? (this.parts.store.writesOffThread ? OFF_THREAD_BATCH_ROWS : 1000);
    const writerHigh = Math.min(this.highWater, 4 * batchRows);
    this.writer = new BatchingRowWriter({
      ...this.parts.writer,
      highWaterRows: writerHigh,
      lowWaterRows: Math.min(Math.floor(writerHigh / 2), this.lowWater),
      store: this.parts.store,
      clock: this.clock,
      onBatchWritten: (r) => {
        this.stats.recordInserts(r.inserted);
        this.releaseBelowLowWater();
      },
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
    this.statsTimer = this.every(STATS_INTERVAL_MS, () => this.writeStats(), { housekeeping: true });
  }

  /**
   * Only queues the message: it is acknowledged at once and decoded later (`decodeSome`), so a
   * burst is read off the socket as fast as it comes. Past the high-water mark the promise holds
   * the acknowledgement and further deliveries until the backlog is down to the low-water mark.
   */
  private onMessage(message: IngestMessage): void | Promise<void> {
    if (message.retain) return;
    this.received.push({ topic: message.topic, payload: message.payload, receivedAt: message.receivedAtMs ?? this.clock.now() });
    this.scheduleDecode();
    if (this.backlog >= this.highWater) this.holding = true;
    if (this.holding) return new Promise((resolve) => this.holdWaiters.push(resolve));
  }

  private scheduleDecode(): void {
    if (this.decodeScheduled || this.undecoded === 0) return;
    this.decodeScheduled = true;
    setImmediate(() => {
      this.decodeScheduled = false;
      this.decodeSome();
    });
  }

  /** Decodes a turn's worth of received messages into the writer, while it has room. */
  private decodeSome(all = false): void {
    const writer = this.writer;
    if (!writer) return;
    if (!all && !writer.accepting) {
      if (!this.waitingForWriter) {
        this.waitingForWriter = true;
        void writer.whenAccepting().then(() => {
          this.waitingForWriter = false;
          this.scheduleDecode();
        });
      }
      return;
    }
    const end = all ? this.received.length : Math.min(this.received.length, this.receivedHead + DECODED_PER_TURN);
    for (; this.receivedHead < end; this.receivedHead++) {
      const m = this.received[this.receivedHead];
      const routed = this.sinks.route(m.topic, m.payload, m.receivedAt);
      for (const reason of routed.invalid) this.refuse(m.topic, reason);
      if (routed.rows.length > 0) writer.add(routed.rows);
    }
    if (this.receivedHead === this.received.length) {
      this.received = [];
      this.receivedHead = 0;
    } else if (this.receivedHead > 4096 && this.receivedHead * 2 > this.received.length) {
      this.received = this.received.slice(this.receivedHead);
      this.receivedHead = 0;
    }
    this.releaseBelowLowWater();
    this.scheduleDecode();
  }

  private releaseBelowLowWater(): void {
    if (!this.holding || this.backlog > this.lowWater) return;
    this.holding = false;
    for (const resolve of this.holdWaiters.splice(0)) resolve();
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
    // What was received (and acknowledged) is stored before exiting.
    this.decodeSome(true);
    this.holding = false;
    for (const resolve of this.holdWaiters.splice(0)) resolve();
    const unwritten = (await this.writer?.close()) ?? 0;
    if (unwritten > 0) {
      this.logger.error(`${unwritten} received rows could not be written to the database before exiting.`);
    }
    await this.parts.store.close().catch((e) => this.logger.debug(`Closing the database failed: ${errorMessage(e)}`));
  }
}

/**
 * The RowStore `[storage]` names: PostgreSQL when `database_url` is set, else the SQLite file.
 * `[storage] streaming_writer_thread = 1` writes the SQLite rows from a worker thread: the job's
 * thread then does half the work per row, but on the 2-core development machine, shared with
 * the broker and the publishers, that did not store more rows a second (docs/BENCHMARKS.md), so
 * it is a switch, off by default.
 */
export async function rowStoreFromConfig(config: Parameters<typeof databaseTargetFromConfig>[0], cwd: string): Promise<RowStore> {
  const target = databaseTargetFromConfig(config);
  if (target.client === "sqlite") {
    const file = path.resolve(cwd, target.filename);
    if (!config.getBoolean("storage", "streaming_writer_thread", false)) return SqliteRowStore.open(file);
    return SqliteWorkerRowStore.open(file, { mmapBytes: DEFAULT_MMAP_BYTES });
  }
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
        store: await rowStoreFromConfig(ctx.config, ctx.cwd),
        statsCache: ctx.intermittentCache(STREAMING_JOB_NAME),
        sinks,
      });
      await job.start();
      return runInForeground(job);
    },
  };
}

export const mqttToDbStreamingCommand: JobCommand = createMqttToDbStreamingCommand();
