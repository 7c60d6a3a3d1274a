/**
 * Composes the real world for `pio serve`: config files (re-read after edits), the leader database
 * (migrated on start), the broker connection (optionally the embedded broker, whose WebSocket is
 * then also served at `/mqtt` on the web port), the local job registry, `pio run` children, on the
 * leader the in-process profile runner (resuming interrupted runs once serving), and the HTTP server. Returns a handle whose `close()` undoes all of it in reverse order.
 * With `simulate` (`pio serve --simulate`) this process is the leader of a simulated cluster: the
 * broker is ensured (embedded unless one answers), and simulated workers join (src/sim/live/).
 */
import path from "node:path";
import express from "express";
import type { Knex } from "knex";
import { Identity, leaderHostname, unitName } from "../../config/identity";
import type { LayeredConfig } from "../../config/layered";
import { loadConfig } from "../../config/load";
import { dotPioreactorDir } from "../../config/paths";
import { authHeaders, type FetchLike, resolveUnitAddress, webBaseUrl } from "../../config/leader-http";
import { isTesting } from "../../config/testing";
import { KeyValueCache, openCacheDatabase } from "../../jobs/local-storage";
import { JobRegistry } from "../../jobs/registry";
import { type EmbeddedBroker, ensureBroker, isPortAnswering, startEmbeddedBroker } from "../../pubsub/broker";
import { connectMqtt, mqttOptionsFromConfig } from "../../pubsub/client";
import { setCommandTopic } from "../../pubsub/topics";
import type { PubSubClient } from "../../pubsub/types";
import { type LiveSimulationOptions, refuseLeaderAsSimulatedUnit } from "../../sim/live/options";
import type { SimulatedWorkers } from "../../sim/live/serve-simulated";
import type { Clock } from "../../util/clock";
import { migrateToLatest } from "../db/migrate";
import { databaseTargetFromConfig, openDatabase } from "../db/open";
import { createApp } from "./app";
import { InProcessProfileRunner, resumeOnStartup } from "./in-process-profiles";
import type { HostedJobs } from "./hosted-jobs/host-jobs";
import { type JobLauncher, PioProcessLauncher } from "./job-launcher";
import { RegistryJobStopper } from "./job-stopper";
import type { ProfileRunner } from "./profile-runner";
import { type RunningServer, startServer } from "./server";

export interface ServeOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  clock: Clock;
  /** Default `[ui] port` (80). */
  port?: number;
  host?: string;
  uiDir?: string;
  embeddedBroker?: boolean;
  /** The `pio` command for job children; default `$PIO_EXECUTABLE`, else this Node running `pioScript`. */
  pioScript?: string;
  profileRunner?: ProfileRunner;
  log?: (line: string) => void;
  /** `pio serve --simulate`: serve as the leader of these simulated workers. */
  simulate?: LiveSimulationOptions;
}

export interface ServeHandle {
  server: RunningServer;
  unit: string;
  isLeader: boolean;
  /** The simulated workers (with `simulate`). */
  simulated?: SimulatedWorkers;
  close(): Promise<void>;
}

interface HostProfilesDeps {
  unit: string;
  mqtt: PubSubClient;
  registry: JobRegistry;
  dot: string;
  config: LayeredConfig;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: (line: string) => void;
  /** Where units answer, when not as configured (the simulated cluster). */
  unitBaseUrl?: (unit: string) => string;
  /** The clock of HTTP waits to the cluster, when not `clock` (the simulated cluster: real waits, simulated schedule). */
  clusterClock?: Clock;
}

/** The leader runs profiles in-process: journal (as `pio run experiment_profile`), cluster over HTTP, the server's MQTT. */
function hostProfiles(d: HostProfilesDeps): { runner: InProcessProfileRunner; close(): Promise<void> } {
  const { HttpClusterClient, JournalStore, defaultJournalPath } = require("../../profiles/engine") as typeof import("../../profiles/engine");
  const { FileLogSink } = require("../../jobs/logger") as typeof import("../../jobs/logger");
  const journal = new JournalStore(d.env.PROFILE_JOURNAL ?? defaultJournalPath(d.dot));
  const logFile = d.config.get("logging", "log_file");
  const runner = new InProcessProfileRunner({
    unit: d.unit,
    pubsub: d.mqtt,
    registry: d.registry,
    journal,
    cluster: new HttpClusterClient({
      // A getter: the simulated cluster's server address is known only once it listens.
      get leaderBaseUrl() {
        return d.unitBaseUrl ? d.unitBaseUrl(d.unit) : webBaseUrl(d.config, resolveUnitAddress(d.config, d.unit));
      },
      unitBaseUrl: (u) => (d.unitBaseUrl ? d.unitBaseUrl(u) : webBaseUrl(d.config, resolveUnitAddress(d.config, u))),
      fetch: globalThis.fetch as unknown as FetchLike,
      clock: d.clusterClock ?? d.clock,
      headers: authHeaders(d.config),
    }),
    clock: d.clock,
    dotPioreactor: d.dot,
    testing: isTesting(d.env),
    logSinks: logFile ? [new FileLogSink(path.resolve(d.cwd, logFile))] : [],
    log: d.log,
  });
  return {
    runner,
    async close() {
      await runner.close();
      journal.close();
    },
  };
}

export async function serve(opts: ServeOptions): Promise<ServeHandle> {
  const log = opts.log ?? (() => {});
  const where = { env: opts.env, cwd: opts.cwd };
  let config: LayeredConfig = loadConfig(where);
  const currentConfig = () => config;
  // A simulated cluster's server is its leader, whatever this machine is called.
  const unit = opts.simulate ? leaderHostname(config) : unitName(opts.env, config);
  const isLeader = unit === leaderHostname(config);
  // Before anything starts: a bad --units is a usage error, not a half-started cluster.
  if (opts.simulate) refuseLeaderAsSimulatedUnit(opts.simulate.units, unit);
  const cleanups: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const undo of cleanups.reverse()) await undo();
  };

  try {
    let db: Knex | undefined;
    let databaseFile: string | undefined;
    if (isLeader) {
      const target = databaseTargetFromConfig(config);
      if (target.client === "sqlite") databaseFile = path.resolve(opts.cwd, target.filename);
      db = openDatabase(target.client === "sqlite" ? { ...target, recursiveTriggers: true } : target);
      const knex = db;
      cleanups.push(() => knex.destroy());
      const { applied } = await migrateToLatest(db);
      if (applied.length > 0) log(`Applied ${applied.length} database migration(s).`);
    }

    if (opts.simulate && !databaseFile) {
      throw new Error("pio serve --simulate needs the leader's SQLite database: set [storage] database (not database_url) in config.ini.");
    }

    let broker: EmbeddedBroker | undefined;
    const mqttOptions = mqttOptionsFromConfig(config, opts.env);
    if (opts.simulate) {
      broker = await ensureSimulationBroker(config, mqttOptions, opts.cwd);
      const b = broker;
      if (b) cleanups.push(() => b.close());
      log(b ? `Started the embedded MQTT broker at ${b.url}${b.wsUrl ? ` and ${b.wsUrl}` : ""}.` : `Using the MQTT broker at ${mqttOptions.url}.`);
    } else if (opts.embeddedBroker) {
      const tempCache = config.getString("storage", "temporary_cache", "/run/pioreactor/cache/local_intermittent_pioreactor_metadata.sqlite");
      broker = await startEmbeddedBroker({
        port: config.getInt("mqtt", "broker_port", 1883),
        host: "0.0.0.0",
        username: mqttOptions.username,
        password: mqttOptions.password,
        persistenceFile: path.join(path.dirname(path.resolve(opts.cwd, tempCache)), "embedded_broker_retained.json"),
      });
      const b = broker;
      cleanups.push(() => b.close());
    }
    const mqtt = await connectMqtt({ ...mqttOptions, clientIdBase: `pioreactor-web-${unit}`, firstConnection: "background" });
    cleanups.push(() => mqtt.end());

    const cachePath = path.resolve(opts.cwd, config.getString("storage", "temporary_cache", "/run/pioreactor/cache/local_intermittent_pioreactor_metadata.sqlite"));
    const cacheDb = openCacheDatabase(cachePath);
    cleanups.push(() => {
      cacheDb.close();
    });
    const registry = new JobRegistry(cacheDb);
    const dot = dotPioreactorDir(opts.env, opts.cwd);
    const persistentDb = openCacheDatabase(
      path.resolve(opts.cwd, config.getString("storage", "persistent_cache", path.join(dot, "storage", "local_persistent_pioreactor_metadata.sqlite"))),
    );
    cleanups.push(() => {
      persistentDb.close();
    });
    const identity = () => new Identity({ env: opts.env, config: currentConfig(), clock: opts.clock });
    const pioCommand = opts.env.PIO_EXECUTABLE ? [opts.env.PIO_EXECUTABLE] : [process.execPath, opts.pioScript ?? process.argv[1]];
    // `[pio_serve] host_jobs`: jobs as objects in this process (small Pis) instead of `pio run` children.
    const hosted = !opts.simulate && config.getBoolean("pio_serve", "host_jobs", false) ? hostJobsHere(opts, cacheDb, log) : undefined;
    if (hosted) {
      const h = hosted;
      cleanups.push(() => h.close());
      log("Hosting jobs in this process ([pio_serve] host_jobs).");
    }
    const jobLauncher: JobLauncher = hosted?.launcher ?? new PioProcessLauncher({ pioCommand, serverEnv: opts.env, clock: opts.clock, cwd: opts.cwd });
    let simulated: SimulatedWorkers | undefined;
    if (opts.simulate && db && databaseFile) {
      const { startSimulatedWorkers } = require("../../sim/live/serve-simulated") as typeof import("../../sim/live/serve-simulated");
      simulated = await startSimulatedWorkers({
        options: opts.simulate,
        leader: unit,
        db,
        databaseFile,
        mqtt: mqttOptions,
        dotPioreactor: dot,
        config: currentConfig,
        clock: opts.clock,
        publisher: mqtt,
        fetch,
        testing: isTesting(opts.env),
        log,
      });
      const s = simulated;
      cleanups.push(() => s.close());
      log(
        `Simulating ${[...s.units.keys()].join(", ")} in experiment ${s.experiment}${opts.simulate.speed === 1 ? " in real time" : ` at ${opts.simulate.speed}× real time`}.`,
      );
    }
    const webClock = simulated?.serverClock ?? opts.clock;
    const profiles =
      isLeader && !opts.profileRunner
        ? hostProfiles({
            unit,
            mqtt,
            registry,
            dot,
            config: currentConfig(),
            // A profile's schedule runs on simulated time, so `--speed` speeds it up with the cultures.
            clock: simulated?.live.clock ?? opts.clock,
            clusterClock: webClock,
            env: opts.env,
            cwd: opts.cwd,
            log,
            unitBaseUrl: simulated?.unitBaseUrl,
          })
        : undefined;
    if (profiles) cleanups.push(() => profiles.close());
    const profileRunner = opts.profileRunner ?? profiles?.runner;
    const jobStopper = new RegistryJobStopper({
      registry,
      profileRunner,
      hostedJobs: hosted?.launcher,
      askToStop: hosted ? (job) => mqtt.publish(setCommandTopic(unit, job.experiment, job.job_name, "$state"), "disconnected", { qos: 1 }) : undefined,
      signal: (pids) => {
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGINT");
          } catch {
            // Already gone: nothing to stop.
          }
        }
      },
      turnOffLeds: () =>
        jobLauncher
          .launch({ jobName: "led_intensity", args: [], options: { A: 0, B: 0, C: 0, D: 0 }, configOverrides: [], env: {} })
          .then(() => true)
          .catch(() => false),
    });

    const { app } = createApp({
      unitName: unit,
      isLeader,
      dotPioreactor: dot,
      pluginDescriptorDirs: pluginDescriptorDirs(opts.env, opts.cwd),
      config: currentConfig,
      configChanged: () => {
        config = loadConfig(where);
      },
      db,
      clock: webClock,
      mqtt,
      registry,
      persistentCache: (name) => new KeyValueCache(persistentDb, name),
      unitModel: async () => ({ modelName: await identity().modelName(unit), modelVersion: await identity().modelVersion(unit) }),
      jobLauncher,
      jobStopper,
      profileRunner,
      fetch,
      unitBaseUrl: simulated?.unitBaseUrl,
      uiDir: opts.uiDir,
      testing: isTesting(opts.env),
    });
    const port = opts.port ?? config.getInt("ui", "port", 80);
    const server = await startServer(simulated ? withSimulatedUnits(simulated, app) : app, { port, host: opts.host, broker });
    cleanups.push(() => server.close());
    simulated?.setServerUrl(server.url);
    log(`Serving ${isLeader ? "/api and /unit_api" : "/unit_api"} for ${unit} on port ${server.port}${broker ? " (MQTT over WebSocket at /mqtt)" : ""}.`);
    // Only once the API answers: resumed runs call it (the leader's /api) from their first action.
    if (profiles) await resumeOnStartup(profiles.runner, currentConfig(), log);
    return { server, unit, isLeader, simulated, close };
  } catch (e) {
    await close();
    throw e;
  }
}

function hostJobsHere(opts: ServeOptions, cacheDb: import("better-sqlite3").Database, log: (line: string) => void): HostedJobs {
  const { hostJobs, JOB_HOSTS_CACHE } = require("./hosted-jobs/host-jobs") as typeof import("./hosted-jobs/host-jobs");
  return hostJobs({ env: opts.env, cwd: opts.cwd, clock: opts.clock, hostsCache: new KeyValueCache(cacheDb, JOB_HOSTS_CACHE), log });
}

/** The simulated units' `/unit_api`s first (under their own prefix), then the leader's app. */
function withSimulatedUnits(simulated: SimulatedWorkers, app: express.Express): express.Express {
  const outer = express();
  outer.disable("x-powered-by");
  outer.use(simulated.router);
  outer.use(app);
  return outer;
}

/**
 * The broker `[mqtt]` names if it answers; otherwise the embedded one on that address, with its
 * WebSocket listener on `[mqtt] broker_ws_port` (where the UI connects) as well as at `/mqtt`.
 */
async function ensureSimulationBroker(config: LayeredConfig, mqttOptions: { url: string; username?: string; password?: string }, cwd: string): Promise<EmbeddedBroker | undefined> {
  const tempCache = config.getString("storage", "temporary_cache", "/run/pioreactor/cache/local_intermittent_pioreactor_metadata.sqlite");
  const wsPort = config.getInt("mqtt", "broker_ws_port", 9001);
  const ensured = await ensureBroker(mqttOptions.url, {
    embedded: true,
    wsPort,
    username: mqttOptions.username,
    password: mqttOptions.password,
    persistenceFile: path.join(path.dirname(path.resolve(cwd, tempCache)), "embedded_broker_retained.json"),
  });
  if (ensured.embedded) return ensured.embedded;
  // ensureBroker takes "address in use" for a broker that won the race; when the taken port was the
  // WebSocket one, nothing answers on the MQTT port: say which ports to check instead of timing out.
  const url = new URL(mqttOptions.url);
  if (!(await isPortAnswering(url.hostname, Number(url.port || 1883)))) {
    throw new Error(
      `No MQTT broker answers at ${mqttOptions.url} and the embedded one could not start: is port ${wsPort} ([mqtt] broker_ws_port) or ${url.port || 1883} ([mqtt] broker_port) used by another program?`,
    );
  }
  return undefined;
}

/** Folders the plugins registered with `registerUiDescriptors`; plugins load once, on the first descriptor request. */
function pluginDescriptorDirs(env: NodeJS.ProcessEnv, cwd: string): () => string[] {
  let dirs: string[] | undefined;
  return () => {
    if (!dirs) {
      const { loadPlugins } = require("../../plugins/load") as typeof import("../../plugins/load");
      dirs = loadPlugins({ env, cwd }).uiDescriptorDirs();
    }
    return dirs;
  };
}
