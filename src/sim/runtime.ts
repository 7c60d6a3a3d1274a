/**
 * Where a simulated profile's units run, as `simulateProfile` sees it: the executor's ClusterClient
 * and lookups, the leader's connection for the profile's own logs, a driver that moves simulated
 * time until some work is done, live numbers for the progress line, and the final state of every
 * unit. Two implementations: all units in this thread (`InProcessRuntime`, below) and units spread
 * over worker threads (`ShardedRuntime`, sharded/sharded-runtime.ts).
 */
import type { BioreactorReadout } from "../hardware/sim/bioreactor";
import type { ClusterClient } from "../profiles/cluster-client";
import type { WatchableLookups } from "../profiles/executor";
import type { PubSubClient } from "../pubsub/types";
import type { Clock } from "../util/clock";
import { BusLookups } from "./bus-lookups";
import { runUntil } from "./clocks";
import { SimulatedCluster, type SimulatedClusterOptions } from "./cluster";
import { InProcessBus } from "./in-process-bus";
import { LatestValues, type Point, SettingHistory } from "./run-data";

/** The settings whose history each unit's chart draws. */
export const CHARTED_SETTINGS: ReadonlyArray<{ job: string; setting: string }> = [
  { job: "dosing_automation", setting: "target_biomass" },
  { job: "temperature_automation", setting: "target_temperature" },
];

export interface UnitLiveValues {
  unit: string;
  /** Ground truth from the simulated culture. */
  readout: BioreactorReadout;
  /** What the unit's jobs last published. */
  growthRate?: number;
  nod?: number;
}

export interface UnitFinalState {
  truth: BioreactorReadout;
  startCounts: Record<string, number>;
  /** `job/setting` (of CHARTED_SETTINGS) → its values over time. */
  settingHistory: Record<string, Point[]>;
}

export interface SimulationRuntime {
  readonly leader: string;
  readonly units: readonly string[];
  readonly client: ClusterClient & { readonly labels: ReadonlyMap<string, string>; readonly actionsByUnit: ReadonlyMap<string, number> };
  readonly lookups: WatchableLookups;
  /** A connection on the leader's side, for the profile's own log lines. */
  connectLeader(clientIdBase: string): PubSubClient;
  /**
   * Moves simulated time (running every unit) until `work` settles. `parked` says when the work
   * can only act again from a timer of the clock or a wake (see `ProfileExecutor.parked`); units
   * in other threads may then run on to that timer without stopping on the way.
   */
  drive<T>(work: Promise<T>, what: string, maxVirtualMs?: number, parked?: () => boolean): Promise<T>;
  live(): UnitLiveValues[];
  /** Stops every unit and writes what the database has yet to store; then each unit's final state. */
  finish(): Promise<Map<string, UnitFinalState>>;
  /** After a failure: releases what would keep the process alive (threads), without a clean stop. */
  abort(): Promise<void>;
  messagesPublished(): number;
}

export type RuntimeOptions = Omit<SimulatedClusterOptions, "connect" | "localUnits" | "ingest"> & { clock: Clock };

/** Every unit in this thread, on one clock and one in-process bus. */
export class InProcessRuntime implements SimulationRuntime {
  readonly units: readonly string[];

  private constructor(
    private readonly o: RuntimeOptions,
    private readonly bus: InProcessBus,
    private readonly cluster: SimulatedCluster,
    private readonly history: SettingHistory,
    private readonly latest: LatestValues,
    readonly lookups: BusLookups,
  ) {
    this.units = o.units;
  }

  /** `listen` subscribes on the bus before any unit boots (and publishes). */
  static async start(o: RuntimeOptions, listen?: (connect: (clientIdBase: string) => PubSubClient) => Promise<void>): Promise<InProcessRuntime> {
    const bus = new InProcessBus();
    await listen?.((clientIdBase) => bus.connect({ clientIdBase }));
    const cluster = await runUntil(o.clock, SimulatedCluster.start({ ...o, connect: async (req) => bus.connect(req) }), "starting the simulated cluster", 600_000);
    const history = new SettingHistory(o.clock, o.experiment, CHARTED_SETTINGS);
    await history.start(cluster.pubsub);
    const latest = new LatestValues();
    await latest.start(cluster.pubsub, [`pioreactor/+/${o.experiment}/growth_rate_calculating/+`]);
    const lookups = new BusLookups(bus, bus.connect({ clientIdBase: "experiment_profile_lookups" }), o.experiment);
    return new InProcessRuntime(o, bus, cluster, history, latest, lookups);
  }

  get leader(): string {
    return this.cluster.leader;
  }

  get client() {
    return this.cluster.client;
  }

  connectLeader(clientIdBase: string): PubSubClient {
    return this.bus.connect({ clientIdBase });
  }

  drive<T>(work: Promise<T>, what: string, maxVirtualMs?: number): Promise<T> {
    return runUntil(this.o.clock, work, what, maxVirtualMs);
  }

  live(): UnitLiveValues[] {
    return [...this.cluster.units.values()].map((u) => {
      const base = `pioreactor/${u.name}/${this.o.experiment}/growth_rate_calculating`;
      return {
        unit: u.name,
        readout: u.parts.sim.bioreactor.lastReadout(),
        growthRate: this.latest.number(`${base}/growth_rate`, "growth_rate"),
        nod: this.latest.number(`${base}/od_filtered`, "od_filtered"),
      };
    });
  }

  async finish(): Promise<Map<string, UnitFinalState>> {
    const finals = new Map<string, UnitFinalState>();
    for (const u of this.cluster.units.values()) {
      finals.set(u.name, {
        truth: u.parts.sim.bioreactor.readout(),
        startCounts: Object.fromEntries(u.startCounts),
        settingHistory: Object.fromEntries(CHARTED_SETTINGS.map((s) => [`${s.job}/${s.setting}`, this.history.history(u.name, s.job, s.setting)])),
      });
    }
    await this.lookups.close();
    await this.history.stop();
    await this.latest.stop();
    await runUntil(this.o.clock, this.cluster.close(), "stopping the simulated units", 600_000);
    return finals;
  }

  async abort(): Promise<void> {
    // Nothing runs outside this thread: the units stop with the process.
  }

  messagesPublished(): number {
    return this.bus.stats().published;
  }
}
