/**
 * A simulated cluster: N units with their jobs, a leader database fed by the streaming job, all on
 * one injected Clock and one message transport. The transport is a port (`connect`): the fast
 * simulation hands in the in-process bus, `pio serve --simulate` the embedded broker.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IniDocument } from "../config/ini";
import { LayeredConfig } from "../config/layered";
import { exampleConfigPath } from "../config/dev-config";
import type { BioreactorParams } from "../hardware/sim/bioreactor";
import type { DeepPartial } from "../hardware/sim/defaults";
import type { ConnectRequest, JobDeps } from "../jobs/background-job";
import { KeyValueCache, openCacheDatabase } from "../jobs/local-storage";
import { JobRegistry } from "../jobs/registry";
import { type LogSink, MqttLogSink } from "../jobs/logger";
import type { IngestSource } from "../leader/streaming/mqtt-ingest";
import type { MqttToDbStreamer } from "../leader/streaming/job";
import type { PubSubClient } from "../pubsub/types";
import type { Clock } from "../util/clock";
import { prepareLeaderDatabase, PubSubIngestSource, startStreamer } from "./leader";
import { deriveSeed, seededRandom } from "./seeded-random";
import { SimClusterClient } from "./sim-cluster-client";
import { SimUnit } from "./sim-unit";

export interface SimulatedClusterOptions {
  /** Every unit of the cluster (the leader database lists them as workers). */
  units: readonly string[];
  /** The units simulated in this cluster object (default: all); the rest run in shards elsewhere. */
  localUnits?: readonly string[];
  experiment: string;
  clock: Clock;
  seed: number;
  /**
   * The leader's SQLite file (created and migrated), and the streamer writing to it. Without it the
   * cluster is units only: a shard of a sharded simulation, whose coordinator keeps the database.
   */
  databaseFile?: string;
  connect(request: ConnectRequest): Promise<PubSubClient>;
  /** The streamer's data connection; default: a plain subscription through `connect`. */
  ingest?: IngestSource;
  leader?: string;
  /** Config overrides on top of the shipped config.example.ini, e.g. `["od_reading.config", "samples_per_second", "0.1"]`. */
  configOverrides?: Array<[string, string, string]>;
  /** Per-unit culture physics (default: the simulator's defaults, each unit with its own noise seed). */
  unitParams?(unit: string): DeepPartial<BioreactorParams> | undefined;
  initialOd?: number;
  /** Console or file sinks for job logs (MQTT logs always go to the database). */
  logSinks?: LogSink[];
  appVersion?: string;
  /** ADC sweeps per OD reading (default: the job's 40). */
  adcOversampling?: number;
  /** The streamer's batching delay in simulated ms (see leader.ts). */
  databaseBatchDelayMs?: number;
  /** Nothing reads the database before the cluster closes: load it without secondary indexes (see leader.ts). */
  databaseBulkLoad?: boolean;
}

/** The shipped defaults, as a fresh Pioreactor has them. */
export function defaultSimConfig(overrides: Array<[string, string, string]> = []): LayeredConfig {
  const file = exampleConfigPath();
  return LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(file, "utf8"), { file })).withOverrides(overrides);
}

export class SimulatedCluster {
  readonly units = new Map<string, SimUnit>();
  readonly client: SimClusterClient;
  readonly leader: string;
  private streamer: MqttToDbStreamer | undefined;
  private leaderPubsub: PubSubClient | undefined;
  private readonly leaderCache = openCacheDatabase(":memory:");

  private constructor(
    private readonly o: SimulatedClusterOptions,
    readonly config: LayeredConfig,
    pubsub: PubSubClient,
  ) {
    this.leader = o.leader ?? "leader";
    this.leaderPubsub = pubsub;
    this.client = new SimClusterClient({ units: this.units, experiment: o.experiment, pubsub, clock: o.clock });
  }

  static async start(o: SimulatedClusterOptions): Promise<SimulatedCluster> {
    if (o.databaseFile !== undefined) {
      fs.mkdirSync(path.dirname(path.resolve(o.databaseFile)), { recursive: true });
      await prepareLeaderDatabase({ file: o.databaseFile, experiment: o.experiment, units: o.units, nowMs: o.clock.now() });
    }
    const pubsub = await o.connect({ clientIdBase: "sim-leader", keepalive: 60, clean: true });
    const cluster = new SimulatedCluster(o, defaultSimConfig(o.configOverrides), pubsub);
    await cluster.boot();
    return cluster;
  }

  /** JobDeps for leader-side jobs (the streamer, the profile's logger). */
  leaderDeps(experiment: string): JobDeps {
    return {
      unit: this.leader,
      experiment,
      clock: this.o.clock,
      config: this.config,
      registry: new JobRegistry(this.leaderCache, () => true, { deferSettingWrites: true }),
      connect: (req) => this.o.connect(req),
      logSinks: this.o.logSinks ?? [],
      mqttLogSink: (client) => new MqttLogSink(client),
      leader: this.leader,
      jobSource: "user",
      pid: process.pid,
      isActive: true,
    };
  }

  private async boot(): Promise<void> {
    const o = this.o;
    // The database listens before any unit publishes, as on a real leader.
    if (o.databaseFile !== undefined) {
      this.streamer = await startStreamer({
        deps: this.leaderDeps("$experiment"),
        databaseFile: o.databaseFile,
        ingest: o.ingest ?? new PubSubIngestSource(() => o.connect({ clientIdBase: "sim-streamer", keepalive: 60, clean: true })),
        statsCache: KeyValueCache.inMemory("mqtt_to_db_streaming"),
        batchDelayMs: o.databaseBatchDelayMs,
        bulkLoad: o.databaseBulkLoad,
      });
    }
    for (const name of o.localUnits ?? o.units) {
      const seed = deriveSeed(o.seed, name);
      const unit = new SimUnit({
        unit: name,
        experiment: o.experiment,
        clock: o.clock,
        config: this.config,
        seed,
        random: seededRandom(seed ^ 0x5bd1e995),
        params: o.unitParams?.(name),
        initialOd: o.initialOd,
        adcOversampling: o.adcOversampling,
        leader: this.leader,
        connect: (req) => o.connect(req),
        logSinks: o.logSinks ?? [],
        appVersion: o.appVersion,
      });
      this.units.set(name, unit);
      await unit.boot();
    }
  }

  get pubsub(): PubSubClient {
    if (!this.leaderPubsub) throw new Error("The simulated cluster is closed.");
    return this.leaderPubsub;
  }

  /** Resolves when every row received so far is committed. */
  async flush(): Promise<void> {
    await this.streamer?.whenWritten();
  }

  get databaseBacklog(): number {
    return this.streamer?.backlog ?? 0;
  }

  /** Stops every unit's jobs, then the streamer (writing what it holds), then the leader's connection. */
  async close(): Promise<void> {
    for (const u of this.units.values()) await u.shutdown();
    // Everything received is written before the streamer stops (its batch timer runs on our clock).
    await this.flush();
    await this.streamer?.stop("simulation finished");
    await this.leaderPubsub?.end();
    this.leaderPubsub = undefined;
    this.leaderCache.close();
  }
}

/** A scratch directory for tests and benchmarks. */
export function tempSimDir(prefix = "pio-sim-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
