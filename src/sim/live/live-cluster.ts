/**
 * The simulated cluster of `pio serve --simulate`: the same SimulatedCluster `pio run profile
 * --simulate` uses (real job classes on simulated bioreactors, the leader's streaming job), but on
 * real time (a ScaledClock, sped up with `--speed`) and on a real MQTT broker, so the web UI sees
 * the units' topics over WebSocket and `/set` from anywhere reaches their jobs.
 */
import { SOFTWARE_VERSION } from "../../cli/version";
import type { ConnectRequest } from "../../jobs/background-job";
import { connectMqtt, type MqttConnectionOptions } from "../../pubsub/client";
import type { PubSubClient } from "../../pubsub/types";
import { ScaledClock } from "../clocks";
import { SimulatedCluster } from "../cluster";

export interface LiveClusterOptions {
  units: readonly string[];
  experiment: string;
  leader: string;
  speed: number;
  seed: number;
  /** The leader's SQLite file (already migrated); the units are registered and assigned in it. */
  databaseFile: string;
  /** The broker every unit's job connects to, as `[mqtt]` names it. */
  mqtt: MqttConnectionOptions;
  /** Where simulated time starts (ms since the epoch); default now. */
  startMs?: number;
}

export interface LiveCluster {
  cluster: SimulatedCluster;
  clock: ScaledClock;
  close(): Promise<void>;
}

export async function startLiveCluster(o: LiveClusterOptions): Promise<LiveCluster> {
  const clock = new ScaledClock(o.startMs ?? Date.now(), o.speed);
  const connect = (req: ConnectRequest): Promise<PubSubClient> =>
    connectMqtt({ ...o.mqtt, clientIdBase: req.clientIdBase, lastWill: req.lastWill, keepaliveSeconds: req.keepalive, clean: req.clean });
  const cluster = await SimulatedCluster.start({
    units: o.units,
    experiment: o.experiment,
    leader: o.leader,
    clock,
    seed: o.seed,
    databaseFile: o.databaseFile,
    connect,
    appVersion: SOFTWARE_VERSION,
  });
  return { cluster, clock, close: () => cluster.close() };
}
