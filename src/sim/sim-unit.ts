/**
 * One simulated Pioreactor at work: it starts the jobs it is asked to (the classes `pio run` runs
 * on hardware, built by job-factories.ts), knows which are running, and hears commands the way a
 * unit does — `/set` and `$state/set` over MQTT — so a profile's `update` and `stop` travel the
 * same path they take on a real cluster. The monitor runs from the start, as on a Pi, and keeps the
 * vial's volume bookkeeping from the dosing events.
 */
import type { ConfigOverride, LayeredConfig } from "../config/layered";
import type { BackgroundJob, ConnectRequest, JobDeps } from "../jobs/background-job";
import { type LogSink, MqttLogSink } from "../jobs/logger";
import { Monitor, type MonitorSystem } from "../jobs/monitor";
import { setCommandTopic } from "../pubsub/topics";
import type { PubSubClient } from "../pubsub/types";
import { buildJob, type JobOptions } from "./job-factories";
import { SimUnitParts, type SimUnitPartsOptions } from "./sim-unit-parts";

/** A laptop pretending to be a Pi: fixed versions and addresses, no LED or button. */
export function simulatedSystem(unit: string, appVersion: string): MonitorSystem {
  return {
    versions: () => ({ app: appVersion, hat: "1.2", firmware: "0.5", hat_serial: `sim-${unit}`, rpi_machine: "simulated" }),
    freeDiskGb: async () => 32,
    cpuTemperatureC: async () => 45,
    ipv4Addresses: () => ["127.0.0.1"],
    macAddress: () => "00:00:00:00:00:00",
    flickerOk: async () => undefined,
    flickerErrorCode: async () => undefined,
  };
}

export interface SimUnitOptions extends Omit<SimUnitPartsOptions, "config"> {
  config: LayeredConfig;
  leader: string;
  connect(request: ConnectRequest): Promise<PubSubClient>;
  logSinks: LogSink[];
  appVersion?: string;
}

export interface StartRequest {
  experiment: string;
  jobSource: string;
  options: JobOptions;
  configOverrides?: ConfigOverride[];
}

interface RunningJob {
  job: BackgroundJob;
  experiment: string;
  source: string;
}

export class SimUnit {
  readonly name: string;
  readonly parts: SimUnitParts;
  private readonly running = new Map<string, RunningJob>();
  private readonly actions = new Set<Promise<void>>();
  private monitor: Monitor | undefined;
  private commander: PubSubClient | undefined;
  /** Start counts by job name, for the run summary. */
  readonly startCounts = new Map<string, number>();

  constructor(private readonly o: SimUnitOptions) {
    this.name = o.unit;
    this.parts = new SimUnitParts(o);
  }

  private deps(experiment: string, jobSource: string, overrides: ConfigOverride[] = []): JobDeps {
    return {
      unit: this.name,
      experiment,
      clock: this.o.clock,
      config: overrides.length > 0 ? this.o.config.withOverrides(overrides) : this.o.config,
      registry: this.parts.registry,
      connect: (req) => this.o.connect(req),
      logSinks: this.o.logSinks,
      mqttLogSink: (client) => new MqttLogSink(client),
      leader: this.o.leader,
      jobSource,
      pid: process.pid,
      isActive: true,
    };
  }

  /** Boots the unit: the monitor (long-running, as `pio serve` starts it on a Pi) and a command connection. */
  async boot(): Promise<void> {
    this.commander = await this.o.connect({ clientIdBase: `sim-commands-${this.name}`, keepalive: 60, clean: true });
    this.monitor = await new Monitor(this.deps("$experiment", "user"), {
      system: simulatedSystem(this.name, this.o.appVersion ?? "0.0.0"),
      bioreactor: this.parts.bioreactor,
      backend: this.parts.sim.backend,
      selfCheckIntervalHours: 0,
    }).start();
  }

  isRunning(jobName: string): boolean {
    return this.running.has(jobName);
  }

  runningJobs(): string[] {
    return [...this.running.keys()];
  }

  job<T extends BackgroundJob = BackgroundJob>(jobName: string): T | undefined {
    return this.running.get(jobName)?.job as T | undefined;
  }

  /** Starts a job (or runs an action to completion). Failures come back as `{ok: false, error}`, as the unit API reports them. */
  async start(jobName: string, req: StartRequest): Promise<{ ok: boolean; error?: string }> {
    if (this.running.has(jobName)) return { ok: false, error: `${jobName} is already running on ${this.name}.` };
    let built: Awaited<ReturnType<typeof buildJob>>;
    try {
      built = await buildJob(jobName, this.deps(req.experiment, req.jobSource, req.configOverrides), req.options, this.parts);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
    this.startCounts.set(jobName, (this.startCounts.get(jobName) ?? 0) + 1);
    if (built.kind === "action") {
      // Like a short-lived `pio run add_media` child: the start succeeds, the action finishes on its own.
      const done = built.done.catch(() => undefined);
      this.actions.add(done);
      void done.then(() => this.actions.delete(done));
      return { ok: true };
    }
    const { job } = built;
    this.running.set(jobName, { job, experiment: req.experiment, source: req.jobSource });
    void job.disconnectedPromise.then(() => {
      if (this.running.get(jobName)?.job === job) this.running.delete(jobName);
    });
    try {
      await job.start();
      return { ok: true };
    } catch (e) {
      if (this.running.get(jobName)?.job === job) this.running.delete(jobName);
      return { ok: false, error: (e as Error).message };
    }
  }

  /** `/set` commands, published as the leader's API publishes them (values as Python prints them). */
  async set(experiment: string, jobName: string, settings: Record<string, string>): Promise<void> {
    for (const [setting, value] of Object.entries(settings)) {
      await this.commander?.publish(setCommandTopic(this.name, experiment, jobName, setting), value, { qos: 1 });
    }
  }

  /** The leader API's stop: `$state/set disconnected` over MQTT. */
  async stop(experiment: string, jobName: string): Promise<void> {
    await this.set(experiment, jobName, { $state: "disconnected" });
  }

  /** The unit API's early-stop kill: every job of this experiment started by `source`. */
  async stopFromSource(experiment: string, source: string): Promise<void> {
    const matching = [...this.running.values()].filter((r) => r.experiment === experiment && r.source === source);
    await Promise.all(matching.map((r) => r.job.stop("signal Interrupt").catch(() => undefined)));
  }

  /** Stops every job (and the monitor), then releases the unit's caches and hardware. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.job.stop("signal Interrupt").catch(() => undefined)));
    await Promise.all([...this.actions]);
    await this.monitor?.stop("signal Interrupt").catch(() => undefined);
    await this.commander?.end();
    await this.parts.close();
  }
}
