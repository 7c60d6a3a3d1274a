/**
 * Composes the real parts a job needs on this unit — config, identity, the local registry and
 * caches, the broker connection, log sinks and hardware (the Pi's, or the simulator off a Pi) —
 * into `JobDeps`. `pio run` uses it; tests and the simulated cluster compose their own.
 */
import fs from "node:fs";
import path from "node:path";
import type Database from "better-sqlite3";
import { Identity, leaderHostname } from "../config/identity";
import type { LayeredConfig } from "../config/layered";
import { loadConfig } from "../config/load";
import { dotPioreactorDir } from "../config/paths";
import { isTesting } from "../config/testing";
import { loadHardwareMap } from "../hardware/hardware-map";
import type { HardwareBackend, LedChannel, PwmChannel } from "../hardware/ports";
import type { PwmRole } from "../hardware/sim/bioreactor";
import type { PhotodiodeRole } from "../hardware/sim/optics";
import type { EnsuredBroker } from "../pubsub/broker";
import { connectMqtt, mqttOptionsFromConfig } from "../pubsub/client";
import type { PubSubClient } from "../pubsub/types";
import { type Clock, RealClock } from "../util/clock";
import type { BackgroundJob, ConnectRequest, JobDeps } from "./background-job";
import { KeyValueCache, openCacheDatabase } from "./local-storage";
import { ConsoleLogSink, FileLogSink, JobLogger, type LogSink, MqttLogSink, parseLogLevel } from "./logger";
import { JobRegistry } from "./registry";

export interface UnitContextOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** `pio run --config-override SECTION KEY VALUE`, in memory only. */
  configOverrides?: Array<[string, string, string]>;
  /** Start an in-process broker when none answers at the configured address. */
  embeddedBroker?: boolean;
  clock?: Clock;
  /**
   * The unit's hardware, owned by someone else (`pio serve` hosting several jobs in its process
   * shares one backend: one I²C bus handle, one GPIO chip). Not closed by `close()`.
   */
  sharedHardware?: () => Promise<HardwareBackend>;
  /**
   * Whether job logs also go to stdout (default true). `pio serve` hosting jobs turns it off: a
   * `pio run` child's stdout goes nowhere either, and the log file and MQTT still get every line.
   */
  consoleLog?: boolean;
  /** Told about every job started from this context (after its registry row exists). */
  onJobStart?: (job: BackgroundJob) => void;
}

export class UnitContext {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly config: LayeredConfig;
  readonly clock: Clock;
  readonly identity: Identity;
  readonly unit: string;
  readonly leader: string;
  private readonly embeddedBroker: boolean;
  private readonly sharedHardware: (() => Promise<HardwareBackend>) | undefined;
  private readonly onJobStart: ((job: BackgroundJob) => void) | undefined;
  private readonly consoleLog: boolean;
  private cacheDb: Database.Database | undefined;
  private persistentDb: Database.Database | undefined;
  private broker: EnsuredBroker | undefined;
  private brokerChecked: Promise<void> | undefined;
  private hardwarePromise: Promise<HardwareBackend> | undefined;
  private readonly startedJobs = new Set<BackgroundJob>();
  private stopReason: string | undefined;

  constructor(options: UnitContextOptions) {
    this.env = options.env;
    this.cwd = options.cwd;
    this.clock = options.clock ?? new RealClock();
    this.config = loadConfig({ env: this.env, cwd: this.cwd }).withOverrides(options.configOverrides ?? []);
    this.identity = new Identity({ env: this.env, config: this.config, clock: this.clock });
    this.unit = this.identity.unitName();
    this.leader = leaderHostname(this.config);
    this.embeddedBroker = options.embeddedBroker ?? false;
    this.sharedHardware = options.sharedHardware;
    this.onJobStart = options.onJobStart;
    this.consoleLog = options.consoleLog ?? true;
  }

  get testing(): boolean {
    return isTesting(this.env);
  }

  get dotPioreactor(): string {
    return dotPioreactorDir(this.env, this.cwd);
  }

  /** `[storage] temporary_cache`, resolved against the working directory. */
  get temporaryCachePath(): string {
    return path.resolve(
      this.cwd,
      this.config.getString("storage", "temporary_cache", "/run/pioreactor/cache/local_intermittent_pioreactor_metadata.sqlite"),
    );
  }

  get persistentCachePath(): string {
    return path.resolve(
      this.cwd,
      this.config.getString(
        "storage",
        "persistent_cache",
        path.join(this.dotPioreactor, "storage", "local_persistent_pioreactor_metadata.sqlite"),
      ),
    );
  }

  private intermittentDb(): Database.Database {
    this.cacheDb ??= openCacheDatabase(this.temporaryCachePath);
    return this.cacheDb;
  }

  registry(): JobRegistry {
    return new JobRegistry(this.intermittentDb());
  }

  intermittentCache(name: string): KeyValueCache {
    return new KeyValueCache(this.intermittentDb(), name);
  }

  persistentCache(name: string): KeyValueCache {
    this.persistentDb ??= openCacheDatabase(this.persistentCachePath);
    return new KeyValueCache(this.persistentDb, name);
  }

  /** Makes sure a broker answers (starting the embedded one if allowed); runs once per process. */
  private ensureBrokerOnce(): Promise<void> {
    this.brokerChecked ??= (async () => {
      if (!this.embeddedBroker) return;
      const opts = mqttOptionsFromConfig(this.config, this.env);
      // aedes is loaded only when the embedded broker may be needed: it costs ~15 MB per process.
      const { ensureBroker } = require("../pubsub/broker") as typeof import("../pubsub/broker");
      this.broker = await ensureBroker(opts.url, {
        embedded: true,
        username: opts.username,
        password: opts.password,
        persistenceFile: path.join(path.dirname(this.temporaryCachePath), "embedded_broker_retained.json"),
      });
    })();
    return this.brokerChecked;
  }

  async connect(request: ConnectRequest): Promise<PubSubClient> {
    await this.ensureBrokerOnce();
    const opts = mqttOptionsFromConfig(this.config, this.env);
    return connectMqtt({
      ...opts,
      clientIdBase: request.clientIdBase,
      lastWill: request.lastWill,
      keepaliveSeconds: request.keepalive,
      clean: request.clean,
    });
  }

  logSinks(): LogSink[] {
    const sinks: LogSink[] = this.consoleLog ? [new ConsoleLogSink(parseLogLevel(this.config.get("logging", "console_log_level") ?? "DEBUG"))] : [];
    const file = this.config.get("logging", "log_file");
    if (file) sinks.push(new FileLogSink(path.resolve(this.cwd, file)));
    return sinks;
  }

  /** A logger for CLI actions (`pio log`, `pio kill`), without MQTT. */
  localLogger(task: string, experiment = "$experiment"): JobLogger {
    return new JobLogger({ task, source: "app", unit: this.unit, experiment }, this.clock, this.logSinks());
  }

  async experiment(): Promise<string> {
    return this.identity.assignedExperiment(this.unit);
  }

  async isActive(): Promise<boolean> {
    return this.identity.isActive(this.unit);
  }

  /**
   * Stops every job started from this context, now and — if a signal came before a job started —
   * as soon as it starts. `pio run` calls it from its SIGINT/SIGTERM/SIGHUP handlers.
   */
  requestStop(reason: string): void {
    this.stopReason ??= reason;
    for (const job of this.startedJobs) void job.stop(reason);
  }

  async jobDeps(experiment: string): Promise<JobDeps> {
    return {
      onStart: (job) => {
        this.startedJobs.add(job);
        this.onJobStart?.(job);
        if (this.stopReason !== undefined) void job.stop(this.stopReason);
      },
      unit: this.unit,
      experiment,
      clock: this.clock,
      config: this.config,
      registry: this.registry(),
      connect: (req) => this.connect(req),
      logSinks: this.logSinks(),
      mqttLogSink: (client) => new MqttLogSink(client),
      leader: this.leader,
      jobSource: this.env.JOB_SOURCE || "user",
      pid: process.pid,
      isActive: await this.isActive(),
    };
  }

  /**
   * The unit's hardware: the Pi's drivers on a Raspberry Pi, otherwise the simulated bioreactor
   * (shared by this unit's job processes through a state file next to the temporary cache).
   * `PIOREACTOR_HARDWARE=sim|pi` forces one.
   */
  hardware(): Promise<HardwareBackend> {
    if (this.sharedHardware) return this.sharedHardware();
    this.hardwarePromise ??= this.createHardware();
    return this.hardwarePromise;
  }

  private async createHardware(): Promise<HardwareBackend> {
    const forced = this.env.PIOREACTOR_HARDWARE;
    const onPi = forced === "pi" || (forced !== "sim" && !this.testing && isRaspberryPi());
    const hatVersion = this.env.HARDWARE || "1.2";
    const modelName = this.env.MODEL_NAME || "pioreactor_40ml";
    const modelVersion = this.env.MODEL_VERSION || "1.5";
    const map = loadHardwareMap({
      hatVersion,
      modelName,
      modelVersion,
      unitHardwareDir: path.join(this.dotPioreactor, "hardware"),
    });
    if (onPi) {
      // Loaded only on a Pi: it pulls in the native i2c-bus package.
      const { createPiBackend } = require("../hardware/pi/pi-backend") as typeof import("../hardware/pi/pi-backend");
      return createPiBackend({ map, clock: this.clock });
    }
    const { createSimulatedUnit } = require("../hardware/sim/simulated-unit") as typeof import("../hardware/sim/simulated-unit");
    const store = path.join(path.dirname(this.temporaryCachePath), "sim");
    fs.mkdirSync(store, { recursive: true });
    const sim = createSimulatedUnit({
      seed: Number(this.env.PIOREACTOR_SIM_SEED ?? hashSeed(this.unit)),
      clock: this.clock,
      unitName: this.unit,
      map,
      pwmRoles: this.pwmRoles(),
      irLedChannel: (this.config.get("leds_reverse", "IR") as LedChannel | undefined) ?? "A",
      photodiodes: this.photodiodes(),
      store,
    });
    return sim.backend;
  }

  private pwmRoles(): Partial<Record<PwmChannel, PwmRole>> {
    const out: Partial<Record<PwmChannel, PwmRole>> = {};
    const known = new Set<string>(["stirring", "media", "alt_media", "waste", "heating"]);
    for (const [channel, role] of this.config.entries("PWM") ?? []) {
      if (role) out[channel as PwmChannel] = (known.has(role) ? role : "other") as PwmRole;
    }
    return out;
  }

  private photodiodes(): Record<string, PhotodiodeRole | null> {
    const out: Record<string, PhotodiodeRole | null> = {};
    for (const [channel, role] of this.config.entries("od_config.photodiode_channel") ?? []) {
      if (role) out[channel] = role as PhotodiodeRole;
    }
    return out;
  }

  async close(): Promise<void> {
    const hw = await this.hardwarePromise?.catch(() => undefined);
    await hw?.close().catch(() => undefined);
    this.cacheDb?.close();
    this.persistentDb?.close();
    await this.broker?.close();
  }
}

function isRaspberryPi(): boolean {
  try {
    return fs.readFileSync("/proc/device-tree/model", "utf8").includes("Raspberry Pi");
  } catch {
    return false;
  }
}

/** A stable seed per unit name so a unit's simulated culture is the same run after run. */
function hashSeed(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
