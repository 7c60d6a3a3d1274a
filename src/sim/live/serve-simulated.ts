/**
 * What `pio serve --simulate` adds to the leader's server: N simulated workers, registered in the
 * leader database and assigned to the current experiment (so the UI lists them), their jobs on
 * the real broker, the streaming job filling the database, and each unit's `/unit_api` mounted on
 * the same web server. `unitBaseUrl` tells the leader's fan-out where each unit answers.
 */
import fs from "node:fs";
import path from "node:path";
import type { Router } from "express";
import type { Knex } from "knex";
import type { ConfigReader } from "../../config/types";
import { latestExperimentName } from "../../leader/web/api/experiments";
import { unitBaseUrlFromConfig } from "../../leader/web/fanout";
import type { MqttConnectionOptions } from "../../pubsub/client";
import type { PubSubClient } from "../../pubsub/types";
import type { Clock } from "../../util/clock";
import type { SimUnit } from "../sim-unit";
import { type LiveCluster, startLiveCluster } from "./live-cluster";
import { type LiveSimulationOptions, refuseLeaderAsSimulatedUnit } from "./options";
import { SimulatedTimeServerClock } from "./server-clock";
import { simUnitApis, simUnitPathPrefix } from "./unit-apis";

/** The experiment the simulated units join when the database has none yet. */
export const DEFAULT_SIM_EXPERIMENT = "simulation";

/**
 * Units simulated by an earlier `pio serve --simulate` (they have a folder under
 * `$DOT_PIOREACTOR/simulated/`) but not by this one leave the inventory, as `DELETE
 * /api/workers/<unit>` would: otherwise the UI lists them as unreachable and every config save
 * fails trying to copy config.ini to them. Their readings and folders stay.
 */
export async function forgetEarlierSimulatedUnits(db: Knex, dotPioreactor: string, current: readonly string[]): Promise<string[]> {
  const dir = path.join(dotPioreactor, "simulated");
  if (!fs.existsSync(dir)) return [];
  const earlier = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !current.includes(d.name)).map((d) => d.name);
  if (earlier.length === 0) return [];
  const registered: string[] = (await db("workers").whereIn("pioreactor_unit", earlier).select("pioreactor_unit")).map((r: { pioreactor_unit: string }) => r.pioreactor_unit);
  if (registered.length > 0) await db("workers").whereIn("pioreactor_unit", registered).delete();
  return registered.sort();
}

export interface SimulatedWorkersSetup {
  options: LiveSimulationOptions;
  leader: string;
  db: Knex;
  /** The leader's SQLite file (absolute). */
  databaseFile: string;
  mqtt: MqttConnectionOptions;
  dotPioreactor: string;
  config: () => ConfigReader;
  /** Real time: the web server's waits. */
  clock: Clock;
  publisher: Pick<PubSubClient, "publish">;
  fetch: typeof fetch;
  testing?: boolean;
  log?: (line: string) => void;
}

export interface SimulatedWorkers {
  units: ReadonlyMap<string, SimUnit>;
  experiment: string;
  live: LiveCluster;
  /** For the web server: the simulation's time, real waits (see server-clock.ts). */
  serverClock: Clock;
  /** Each unit's `/unit_api`, to mount at the root of the leader's server. */
  router: Router;
  /** Must be called once the server listens, with its own base URL. */
  setServerUrl(url: string): void;
  /** Where a unit's `/unit_api` answers: a simulated unit and the leader on this server, others as configured. */
  unitBaseUrl(unit: string): string;
  close(): Promise<void>;
}

export async function startSimulatedWorkers(s: SimulatedWorkersSetup): Promise<SimulatedWorkers> {
  refuseLeaderAsSimulatedUnit(s.options.units, s.leader);
  const forgotten = await forgetEarlierSimulatedUnits(s.db, s.dotPioreactor, s.options.units);
  if (forgotten.length > 0) s.log?.(`Removed the earlier simulated worker(s) ${forgotten.join(", ")} from the inventory.`);
  const experiment = (await latestExperimentName(s.db)) ?? DEFAULT_SIM_EXPERIMENT;
  const live = await startLiveCluster({
    units: s.options.units,
    experiment,
    leader: s.leader,
    speed: s.options.speed,
    seed: s.options.seed,
    databaseFile: s.databaseFile,
    mqtt: s.mqtt,
  });
  const units = live.cluster.units;
  const serverClock = new SimulatedTimeServerClock(live.clock, s.clock);
  let serverUrl: string | undefined;
  const unitBaseUrl = (unit: string): string => {
    if (serverUrl === undefined) throw new Error("The simulated units' server is not listening yet.");
    if (unit === s.leader) return serverUrl;
    if (units.has(unit)) return `${serverUrl}${simUnitPathPrefix(unit)}`;
    return unitBaseUrlFromConfig(s.config(), unit);
  };
  const router = simUnitApis({
    units,
    dotPioreactor: s.dotPioreactor,
    config: s.config,
    clock: serverClock,
    mqtt: s.publisher,
    fetch: s.fetch,
    unitBaseUrl,
    currentExperiment: () => experiment,
    testing: s.testing,
  });
  return {
    units,
    experiment,
    live,
    serverClock,
    router,
    setServerUrl(url) {
      serverUrl = url;
    },
    unitBaseUrl,
    close: () => live.close(),
  };
}
