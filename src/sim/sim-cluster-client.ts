/**
 * The profile executor's ClusterClient port answered by simulated units in this process instead of
 * HTTP to `/api` and `/unit_api`. Starts build the real job classes on the unit; updates and stops
 * go out as MQTT `/set` commands, as the leader's API sends them; unit logs are published where
 * the leader's log route would have put them, so they reach the database through the streamer.
 */
import { encodeLogPayload, type LogLevel } from "../jobs/logger";
import type { ClusterClient, StartJobBody, StartJobResult, UnitLogBody, WorkerInfo } from "../profiles/cluster-client";
import { ClusterRequestError } from "../profiles/cluster-client";
import { pyStr, type PyValue } from "../profiles/expressions";
import { logTopic } from "../pubsub/topics";
import type { PubSubClient } from "../pubsub/types";
import type { SimUnit } from "./sim-unit";

export interface SimClusterClientOptions {
  units: ReadonlyMap<string, SimUnit>;
  /** The experiment every simulated unit is assigned to. */
  experiment: string;
  /** Where unit logs posted by the profile are published. */
  pubsub: PubSubClient;
  clock: { now(): number };
}

/**
 * What every simulated cluster's ClusterClient answers alike, wherever its units run: which units
 * are in the experiment, the labels the profile gives them, and the requests counted per unit.
 */
export abstract class SimulatedClusterClientBase {
  /** Labels the profile gave units (for chart titles). */
  readonly labels = new Map<string, string>();
  /** Requests that changed something, per unit (the summary's "actions run"). */
  readonly actionsByUnit = new Map<string, number>();

  constructor(
    /** The experiment every simulated unit is assigned to. */
    protected readonly experiment: string,
    private readonly unitNames: () => Iterable<string>,
  ) {}

  protected count(unit: string): void {
    this.actionsByUnit.set(unit, (this.actionsByUnit.get(unit) ?? 0) + 1);
  }

  protected hasUnit(unit: string): boolean {
    for (const u of this.unitNames()) if (u === unit) return true;
    return false;
  }

  async activeWorkersInExperiment(experiment: string): Promise<string[]> {
    return experiment === this.experiment ? [...this.unitNames()].sort() : [];
  }

  async assignedExperiment(unit: string): Promise<string | null> {
    return this.hasUnit(unit) ? this.experiment : null;
  }

  async setUnitLabel(_experiment: string, unit: string, label: string): Promise<void> {
    this.labels.set(unit, label);
  }

  addressOf(unit: string): string {
    return `simulated unit ${unit}`;
  }
}

export class SimClusterClient extends SimulatedClusterClientBase implements ClusterClient {
  constructor(private readonly o: SimClusterClientOptions) {
    super(o.experiment, () => o.units.keys());
  }

  private unit(name: string): SimUnit {
    const u = this.o.units.get(name);
    // What an HTTP client sees for a unit that is not there: nothing answers.
    if (!u) throw new ClusterRequestError("network", `No simulated unit called ${name}.`);
    return u;
  }

  async workerInfo(unit: string): Promise<WorkerInfo | null> {
    if (!this.o.units.has(unit)) return null;
    const m = this.unit(unit).parts.model;
    return { unit, isActive: true, modelName: m.modelName, modelVersion: m.modelVersion };
  }

  async startJob(unit: string, job: string, body: StartJobBody): Promise<StartJobResult> {
    this.count(unit);
    const options: Record<string, string> = {};
    for (const [k, v] of Object.entries(body.options)) options[k] = pyStr(v);
    const result = await this.unit(unit).start(job, {
      experiment: body.env.EXPERIMENT ?? this.o.experiment,
      jobSource: body.env.JOB_SOURCE ?? "user",
      options,
      configOverrides: body.config_overrides,
    });
    return { kind: "result", ok: result.ok, ...(result.error ? { error: result.error } : {}) };
  }

  async isJobRunning(unit: string, job: string): Promise<boolean> {
    return this.unit(unit).isRunning(job);
  }

  async updateJobSettings(unit: string, experiment: string, job: string, settings: Record<string, PyValue>): Promise<void> {
    this.count(unit);
    const text: Record<string, string> = {};
    for (const [k, v] of Object.entries(settings)) text[k] = pyStr(v);
    await this.unit(unit).set(experiment, job, text);
  }

  async stopJob(unit: string, experiment: string, job: string): Promise<void> {
    this.count(unit);
    await this.unit(unit).stop(experiment, job);
  }

  async stopJobsFromSource(unit: string, experiment: string, jobSource: string): Promise<void> {
    await this.unit(unit).stopFromSource(experiment, jobSource);
  }

  async postUnitLog(unit: string, experiment: string, body: UnitLogBody): Promise<void> {
    this.count(unit);
    const level = (body.level.toUpperCase() as LogLevel) ?? "INFO";
    const payload = encodeLogPayload({
      level,
      task: body.task,
      source: body.source_,
      unit,
      experiment,
      message: body.message,
      timeMs: this.o.clock.now(),
    });
    await this.o.pubsub.publish(logTopic(unit, experiment, body.source_, level), payload, { qos: 0 });
  }

}
