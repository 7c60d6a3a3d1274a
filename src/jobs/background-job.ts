/**
 * The job runtime: published settings, the `$state` machine, `/set` commands, clean shutdown.
 *
 * A job receives everything it touches (clock, MQTT connection factory, config, registry, log
 * sinks) through `JobDeps`, so the same class runs as its own `pio run` process, inside a test, or
 * as one of a hundred simulated units in one process.
 *
 * Lifecycle (as the original): registry row → MQTT connection with last will `$state=lost` →
 * `$state=init` → the subclass's `setup()` → listeners → `$state=ready`. Stopping publishes
 * `disconnected`, clears every non-persistent setting with a zero-length retained message, marks
 * the registry row stopped and closes the connection cleanly (so the will does not fire).
 */
import type { ConfigReader } from "../config/types";
import { decodeSetPayload, encodeSettingPayload } from "../pubsub/codec";
import type { LastWill, MqttMessage, PublishOptions, PubSubClient, QoS } from "../pubsub/types";
import type { Clock, TimerHandle, TimerOptions } from "../util/clock";
import { formatPyScalar, PyInt } from "../util/python-format";
import { JobLogger, type LogSink } from "./logger";
import { PublishQueue } from "./publish-queue";
import type { JobRegistry } from "./registry";

export const JOB_STATES = ["init", "ready", "sleeping", "disconnected", "lost"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const DISALLOWED_JOB_NAMES = new Set(["run", "dosing_events", "leds", "led_change_events", "unit_label", "pwm", "assignment"]);

export const UNIVERSAL_IDENTIFIER = "$broadcast";

/** `string | float | integer | json | boolean`, or the name of a struct (`MeasuredRPM`, `GrowthRate` …). */
export type SettingDatatype = string;

export interface SettingSpec {
  datatype: SettingDatatype;
  settable: boolean;
  /** Display suffix used in "Updated x from a to b." lines (`RPM`, `%`, `℃` …). */
  unit?: string;
  /** Kept retained after the job ends (only `$state` in the built-in jobs). */
  persist?: boolean;
}

export interface ConnectRequest {
  /** Base of the client id; the connection adds `-xxxx`. */
  clientIdBase: string;
  lastWill?: LastWill;
  keepalive: number;
  clean: boolean;
}

export interface JobDeps {
  unit: string;
  experiment: string;
  clock: Clock;
  config: ConfigReader;
  registry: JobRegistry;
  /** Opens a broker connection for this job (the job owns it and ends it on shutdown). */
  connect(request: ConnectRequest): Promise<PubSubClient>;
  /** Where log lines go besides MQTT (console, log file). */
  logSinks: LogSink[];
  /** Adds the MQTT sink for a connection; separate so tests can leave it out. */
  mqttLogSink?: (client: PubSubClient) => LogSink;
  /** Leader hostname, recorded in the registry. */
  leader: string;
  /** `JOB_SOURCE` (`user`, `experiment_profile/<id>` …). */
  jobSource: string;
  pid: number;
  /** Worker jobs refuse to start on an inactive unit; undefined = not checked. */
  isActive?: boolean;
  /**
   * Told about the job as soon as it starts (before it connects), so whoever hosts it — the
   * `pio run` process handling SIGINT/SIGTERM/SIGHUP — can stop it even during start-up.
   */
  onStart?(job: BackgroundJob): void;
}

export class JobPresentError extends Error {
  override name = "JobPresentError";
}
export class NotActiveWorkerError extends Error {
  override name = "NotActiveWorkerError";
}

/** Settings are retained and sent with QoS 2, as the original publishes them (shared: never modified). */
const SETTING_PUBLISH: Readonly<PublishOptions> = { qos: 2, retain: true };

const SETTING_NAME = /^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$/;

/** Python's `format_with_optional_units`: value, unit suffix, truncated to 40 characters with `...`. */
export function formatWithUnits(value: unknown, unit: string | undefined, datatype?: SettingDatatype): string {
  const text =
    value !== null && typeof value === "object" && !(value instanceof PyInt)
      ? JSON.stringify(value)
      : formatPyScalar(value, { intIfWhole: datatype === "integer" });
  const s = unit === undefined ? text : unit === "%" ? `${text}${unit}` : `${text} ${unit}`;
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

export interface BackgroundJobOptions {
  jobName: string;
  settings: Record<string, SettingSpec>;
  /** `app` for built-in jobs, the plugin name for plugin jobs (the log source). */
  source?: string;
  /** Long-running jobs (monitor, mqtt_to_db_streaming) ignore `pio kill --all-jobs` and the active check. */
  longRunning?: boolean;
}

export abstract class BackgroundJob {
  readonly jobName: string;
  readonly unit: string;
  readonly experiment: string;
  readonly clock: Clock;
  readonly config: ConfigReader;
  protected readonly source: string;
  protected readonly longRunning: boolean;
  protected readonly deps: JobDeps;

  state: JobState = "disconnected";
  jobId: number | undefined;
  logger: JobLogger;

  /** Declared settings in declaration order, including `state` (published as `$state`). */
  private readonly specs = new Map<string, SettingSpec>();
  private readonly values = new Map<string, unknown>();
  /** `settingTopic` of this job's settings, by topic name (`$state`, `od1` …). */
  private readonly ownTopics = new Map<string, string>();
  /** Custom handlers for `/set`, the equivalent of the original's `set_<attr>` methods. */
  protected readonly setters: Record<string, (value: unknown) => void | Promise<void>> = {};

  private client: PubSubClient | undefined;
  private shutdownStarted = false;
  private cleanedUp = false;
  private started = false;
  /** Serialises state changes and `/set` handling so they apply one at a time, in arrival order. */
  private work: Promise<void> = Promise.resolve();
  /** Everything this job publishes (settings and log lines), in the order it was written. */
  private readonly outbox = new PublishQueue((topic, e) => this.logger.debug(`Publish to ${topic} failed: ${errorMessage(e)}`));
  private readonly timers = new Set<TimerHandle>();
  private resolveDisconnected!: () => void;
  /** Resolves once the job has disconnected and released its resources. */
  readonly disconnectedPromise: Promise<void>;

  constructor(deps: JobDeps, options: BackgroundJobOptions) {
    if (DISALLOWED_JOB_NAMES.has(options.jobName)) throw new Error("Job name not allowed.");
    if (options.jobName !== options.jobName.toLowerCase()) throw new Error("Job name should be all lowercase.");
    this.deps = deps;
    this.jobName = options.jobName;
    this.unit = deps.unit;
    this.experiment = deps.experiment;
    this.clock = deps.clock;
    this.config = deps.config;
    this.source = options.source ?? "app";
    this.longRunning = options.longRunning ?? false;
    for (const [name, spec] of Object.entries(options.settings)) this.specs.set(name, spec);
    this.specs.set("state", { datatype: "string", settable: true, persist: true });
    this.logger = new JobLogger(
      { task: this.jobName, source: this.source, unit: this.unit, experiment: this.experiment },
      this.clock,
      deps.logSinks,
    );
    this.disconnectedPromise = new Promise((resolve) => {
      this.resolveDisconnected = resolve;
    });
    this.setters.state = (v) => this.setState(String(v) as JobState);
  }

  // ---------------------------------------------------------------- hooks for subclasses

  /** The subclass's start-up work (the original's constructor body); may publish settings. */
  protected async setup(): Promise<void> {}
  /** Subscriptions to other jobs' topics; re-run after a reconnect. */
  protected async startPassiveListeners(): Promise<void> {}
  /** Called for every transition before the new state is published (`on_<from>_to_<to>`). */
  protected async onTransition(_from: JobState, _to: JobState): Promise<void> {}
  protected async onReady(): Promise<void> {}
  protected async onSleeping(): Promise<void> {}
  protected async onDisconnected(): Promise<void> {}

  // ---------------------------------------------------------------- start

  /** Brings the job to `ready`. On failure the job cleans up after itself and the error is rethrown. */
  async start(): Promise<this> {
    if (this.started) throw new Error(`${this.jobName} was already started`);
    this.started = true;
    for (const [name, spec] of this.specs) checkSetting(name, spec);

    if (!this.longRunning && this.deps.isActive === false) {
      throw new NotActiveWorkerError(
        `${this.unit} is not active. Make active in leader, or set ACTIVE=1 in the environment: ACTIVE=1 pio run ... `,
      );
    }
    const existing = this.deps.registry.runningJobId(this.jobName);
    if (existing !== undefined) {
      const message = `${this.jobName} is already running (job_id=${existing}). Skipping.`;
      await this.logWithoutWill("WARNING", message);
      throw new JobPresentError(message);
    }
    this.jobId = this.deps.registry.register({
      unit: this.unit,
      experiment: this.experiment,
      jobName: this.jobName,
      jobSource: this.deps.jobSource,
      pid: this.deps.pid,
      leader: this.deps.leader,
      isLongRunning: this.longRunning,
    });

    this.deps.onStart?.(this);

    try {
      const client = await this.deps.connect({
        clientIdBase: `${this.jobName}-sub-${this.unit}-${this.experiment}`,
        lastWill: { topic: this.settingTopic("$state"), payload: "lost", qos: 2, retain: true },
        keepalive: 125,
        // The original asks for a persistent session, but its client id carries a random suffix,
        // so no later process can resume it; our client re-subscribes after every reconnect.
        clean: true,
      });
      if (this.shutdownStarted) {
        // Stopped (a signal) while connecting: nothing was published, so just close again.
        await client.end();
        return this;
      }
      this.client = client;
      if (this.deps.mqttLogSink) this.logger = this.logger.withSink(this.deps.mqttLogSink(this.inPublishOrder(this.client)));
      this.client.onReconnect(() => this.onBrokerReconnect());
      this.client.onDisconnect(() => this.onBrokerDisconnect());

      this.state = "init";
      this.publishSetting("state");
      this.logger.debug("Init.");
      await this.setup();
      await this.startGeneralListeners();
      await this.startPassiveListeners();
      await this.setState("ready");
      await this.flush();
    } catch (e) {
      if (this.shutdownStarted) {
        // Stopped during start-up (a signal): what failed afterwards is a consequence, not an error.
        this.logger.debug(`Start-up interrupted: ${errorMessage(e)}`);
        await this.stop();
        return this;
      }
      this.logger.error(errorMessage(e));
      await this.stop();
      throw e;
    }
    return this;
  }

  // ---------------------------------------------------------------- settings

  protected hasSetting(name: string): boolean {
    return this.specs.has(name);
  }

  getSetting<T = unknown>(name: string): T | undefined {
    return (name === "state" ? this.state : this.values.get(name)) as T | undefined;
  }

  /** Assigns and publishes a declared setting (retained, QoS 2) and records it in the registry. */
  protected setSetting(name: string, value: unknown): void {
    if (!this.specs.has(name)) throw new Error(`${name} is not a published setting of ${this.jobName}`);
    if (name === "state") throw new Error("use setState() to change the state");
    this.values.set(name, value);
    this.publishSetting(name);
  }

  /** Declares a setting at runtime (and publishes it if it has a value). */
  protected addSetting(name: string, spec: SettingSpec, value?: unknown): void {
    checkSetting(name, spec);
    this.specs.set(name, spec);
    if (value !== undefined) this.setSetting(name, value);
  }

  /** Removes a runtime setting and clears its retained topic. */
  protected removeSetting(name: string): void {
    if (!this.specs.delete(name)) return;
    this.values.delete(name);
    this.publishRaw(this.settingTopic(name), "", { qos: 2, retain: true });
  }

  private publishSetting(name: string): void {
    const spec = this.specs.get(name)!;
    const topicName = name === "state" ? "$state" : name;
    const value = this.getSetting(name);
    this.publishRaw(this.ownSettingTopic(topicName), encodeSettingPayload(value, spec.datatype), SETTING_PUBLISH);
    if (this.jobId !== undefined) this.deps.registry.upsertSetting(this.jobId, topicName, value);
  }

  /**
   * The topic of one of this job's settings, built once: a reading republishes the same dozen
   * topics, and the bus looks each up by its text (a string built anew is hashed anew).
   */
  private ownSettingTopic(topicName: string): string {
    let topic = this.ownTopics.get(topicName);
    if (topic === undefined) {
      topic = this.settingTopic(topicName);
      this.ownTopics.set(topicName, topic);
    }
    return topic;
  }

  // ---------------------------------------------------------------- MQTT helpers for subclasses

  protected settingTopic(setting: string, jobName = this.jobName): string {
    return `pioreactor/${this.unit}/${this.experiment}/${jobName}/${setting}`;
  }

  /**
   * Publishes on this job's connection. Each publish waits for the previous one to complete, as
   * the original waits on every publish: a QoS 0 message can otherwise overtake a QoS 2 one still
   * in its handshake, and subscribers would see settings in a different order.
   */
  protected publishRaw(topic: string, payload: string | Buffer, opts: { qos?: QoS; retain?: boolean } = {}): void {
    const client = this.client;
    if (!client) return;
    this.outbox.push(client, topic, payload, opts);
  }

  /**
   * The connection as the MQTT log sink sees it: log lines join the ordered publish chain, so
   * they leave in the order they were written relative to settings, as the original's single
   * paho queue sends them. A failed log publish is dropped silently (logging it would loop).
   */
  private inPublishOrder(client: PubSubClient): PubSubClient {
    return {
      get clientId() {
        return client.clientId;
      },
      publish: (topic, payload, opts = {}) => this.outbox.pushQuietly(client, topic, payload, opts),
      subscribe: (filter, handler, opts) => client.subscribe(filter, handler, opts),
      onReconnect: (listener) => client.onReconnect(listener),
      onDisconnect: (listener) => client.onDisconnect(listener),
      isConnected: () => client.isConnected(),
      end: () => client.end(),
    };
  }

  /** Subscribes on this job's connection; handler errors are logged, never fatal. */
  protected async subscribe(
    filter: string | string[],
    handler: (message: MqttMessage) => void | Promise<void>,
    opts: { qos?: QoS; allowRetained?: boolean; serialised?: boolean } = {},
  ): Promise<void> {
    if (!this.client) throw new Error("not connected");
    const deliver =
      opts.serialised === false
        ? (message: MqttMessage) => this.handleNow(handler, message)
        : (message: MqttMessage) => {
            this.enqueue(async () => {
              try {
                await handler(message);
              } catch (e) {
                this.reportHandlerError(e);
              }
            });
          };
    await this.client.subscribe(filter, deliver, { qos: opts.qos ?? 2, allowRetained: opts.allowRetained ?? true });
  }

  /**
   * Runs a handler at once. No async wrapper around it: automations take every reading this way,
   * and a synchronous handler needs no promise at all; an asynchronous one's failure is reported
   * exactly when awaiting it would have reported it.
   */
  private handleNow(handler: (message: MqttMessage) => void | Promise<void>, message: MqttMessage): void {
    try {
      const result = handler(message);
      if (result instanceof Promise) result.then(undefined, this.reportHandlerError);
    } catch (e) {
      this.reportHandlerError(e);
    }
  }

  private readonly reportHandlerError = (e: unknown): void => {
    this.logger.error(errorMessage(e));
    if (e instanceof Error && e.stack) this.logger.debug(e.stack);
  };

  /** A repeating task on the job's clock, cancelled automatically at shutdown. */
  protected every(ms: number, fn: () => void | Promise<void>, options?: TimerOptions): TimerHandle {
    const handle = this.clock.setInterval(() => {
      this.enqueue(async () => {
        if (this.shutdownStarted) return;
        try {
          await fn();
        } catch (e) {
          this.logger.error(errorMessage(e));
        }
      });
    }, ms, options);
    this.timers.add(handle);
    return handle;
  }

  /** Waits for everything published so far to reach the broker. */
  async flush(): Promise<void> {
    await this.outbox.idle();
  }

  /** Like `flush`, but gives up after `ms` (the broker may be unreachable). */
  private async flushWithin(ms: number): Promise<void> {
    let timer: TimerHandle | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.logger.debug(`Gave up waiting for ${this.outbox.size} publish(es) to reach the broker.`);
        resolve();
      }, ms);
    });
    try {
      await Promise.race([this.flush(), expired]);
    } finally {
      timer?.cancel();
    }
  }

  /** Runs `fn` after all work queued before it (state changes, `/set` commands, timer ticks). */
  protected enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.work.then(fn, fn);
    this.work = next.catch(() => undefined);
    return next;
  }

  // ---------------------------------------------------------------- state machine

  /**
   * Moves to `next`: `onTransition(from, to)`, then the state is published, then the `on<State>` hook.
   * Any state may follow any other (the original enforces no matrix); once shutdown has begun only
   * `disconnected` is accepted, so a queued command cannot revive a closing job.
   */
  async setState(next: JobState): Promise<void> {
    if (!JOB_STATES.includes(next)) {
      this.logger.error(`saw ${next}: not a valid state`);
      return;
    }
    if (next === "disconnected") this.shutdownStarted = true;
    else if (this.shutdownStarted) return;
    const from = this.state;
    if (next === from) return;
    try {
      await this.onTransition(from, next);
    } catch (e) {
      this.logger.debug(`Error in on_${from}_to_${next}`);
      this.logger.error(errorMessage(e));
    }
    if (next === "disconnected") {
      try {
        await this.onDisconnected();
      } catch (e) {
        this.logger.debug(`Error in on_disconnected: ${errorMessage(e)}`);
      }
    }
    this.state = next;
    this.publishSetting("state");
    // As the original: "Ready." / "Sleeping." are logged once the hook has run.
    if (next === "ready") await this.runHook("on_ready", () => this.onReady());
    if (next === "sleeping") await this.runHook("on_sleeping", () => this.onSleeping());
    this.logState(next);
    if (next === "disconnected") await this.releaseResources();
  }

  private async runHook(name: string, hook: () => Promise<void>): Promise<void> {
    try {
      await hook();
    } catch (e) {
      this.logger.error(errorMessage(e));
      this.logger.debug(`Error in ${name}:`);
    }
  }

  private logState(state: JobState): void {
    const text = `${state[0].toUpperCase()}${state.slice(1)}.`;
    if (state === "ready" || state === "disconnected" || state === "lost") this.logger.info(text);
    else this.logger.debug(text);
  }

  /**
   * Graceful stop (SIGINT, SIGTERM, `pio kill`, the end of a test). Safe to call more than once and
   * at any point of start-up.
   */
  async stop(reason?: string): Promise<void> {
    if (this.cleanedUp) return this.disconnectedPromise;
    if (reason) this.logger.debug(`Exiting caused by ${reason}.`);
    const startingUp = !this.shutdownStarted && this.state === "disconnected" && this.started;
    this.shutdownStarted = true;
    if (startingUp) {
      // Not connected yet: release the registry row; `start()` closes its connection itself.
      await this.releaseResources();
      return this.disconnectedPromise;
    }
    if (this.state !== "disconnected") {
      this.shutdownStarted = true;
      // Runs after any command already being handled, so the job never stops half-way through one.
      await this.enqueue(() => this.setState("disconnected"));
    } else {
      await this.releaseResources();
    }
    return this.disconnectedPromise;
  }

  /** Resolves when the job has disconnected (by command, signal or failure). */
  blockUntilDisconnected(): Promise<void> {
    this.logger.debug(`${this.jobName} is blocking until disconnected.`);
    return this.disconnectedPromise;
  }

  private async releaseResources(): Promise<void> {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    // Clear every non-persistent setting that has a value, in declaration order, as the original does.
    for (const [name, spec] of this.specs) {
      if (spec.persist || name === "state") continue;
      const value = this.values.get(name);
      if (value === undefined || value === null) continue;
      this.publishRaw(this.settingTopic(name), "", { qos: 2, retain: true });
      if (this.jobId !== undefined) this.deps.registry.upsertSetting(this.jobId, name, null);
    }
    if (this.jobId !== undefined) {
      try {
        this.deps.registry.setNotRunning(this.jobId);
      } catch (e) {
        this.logger.debug(`Error in _remove_from_job_manager: ${errorMessage(e)}`);
      }
    }
    try {
      // As the original waits at most 5 s per publish: with the broker gone, stopping must not hang.
      await this.flushWithin(5000);
      if (this.client) {
        this.logger.debug("Disconnected successfully from MQTT.");
        // The line above waits in the publish chain; let it leave before the connection closes.
        if (this.client.isConnected()) await this.flushWithin(5000);
        await this.client.end();
      }
    } catch (e) {
      this.logger.debug(`Error in _disconnect_from_mqtt_clients: ${errorMessage(e)}`);
    }
    this.resolveDisconnected();
  }

  // ---------------------------------------------------------------- listeners

  private async startGeneralListeners(): Promise<void> {
    await this.subscribe(
      [this.settingTopic("+/set"), `pioreactor/${UNIVERSAL_IDENTIFIER}/${this.experiment}/${this.jobName}/+/set`],
      (m) => this.handleSetCommand(m),
      { allowRetained: false },
    );
    await this.subscribe(this.settingTopic("$state"), (m) => this.confirmStateInBroker(m), {
      qos: 0,
      serialised: false,
    });
  }

  private async handleSetCommand(message: MqttMessage): Promise<void> {
    const attr = message.topic.split("/")[4].replace(/^\$+/, "");
    const spec = this.specs.get(attr);
    if (!spec) {
      this.logger.debug(`Unable to set \`${attr}\` in ${this.jobName}. \`${attr}\` is not a published_setting.`);
      return;
    }
    if (!spec.settable) {
      this.logger.warning(`Unable to set \`${attr}\` in ${this.jobName}. \`${attr}\` is read-only.`);
      return;
    }
    const previous = this.getSetting(attr);
    const value = decodeSetPayload(message.payload, spec.datatype);
    const setter = this.setters[attr];
    if (setter) await setter(value);
    else this.setSetting(attr, value);
    this.logger.info(
      `Updated ${attr} from ${formatWithUnits(previous, spec.unit, spec.datatype)} to ${formatWithUnits(this.getSetting(attr), spec.unit, spec.datatype)}.`,
    );
  }

  /** If the broker says we are `lost` (a stale will) while we are alive, put our real state back. */
  private confirmStateInBroker(message: MqttMessage): void {
    if (message.payload.length === 0 || this.state === "init" || this.cleanedUp) return;
    const inBroker = message.payload.toString("utf8");
    if (inBroker === "lost" && inBroker !== this.state) {
      this.logger.debug(
        `Job is in state ${this.state}, but in state ${inBroker} in broker. Attempting fix by publishing ${this.state}.`,
      );
      const t = this.clock.setTimeout(() => {
        this.timers.delete(t);
        if (!this.cleanedUp) this.publishSetting("state");
      }, 1000);
      this.timers.add(t);
    }
  }

  private onBrokerReconnect(): void {
    if (this.cleanedUp || this.state === "init") return;
    this.logger.info("Sub client reconnected to the MQTT broker on leader.");
    for (const name of this.specs.keys()) {
      if (name === "state" || this.values.has(name)) this.publishSetting(name);
    }
  }

  /** Subclasses that drive actuators override this (pumps stop when the broker is gone). */
  protected onBrokerDisconnect(): void {}

  /** The duplicate-job warning goes to MQTT too, on a short connection without a will. */
  private async logWithoutWill(level: "WARNING", message: string): Promise<void> {
    let client: PubSubClient | undefined;
    try {
      client = await this.deps.connect({ clientIdBase: `${this.jobName}-pub-${this.unit}-${this.experiment}`, keepalive: 60, clean: true });
      const logger = this.deps.mqttLogSink ? this.logger.withSink(this.deps.mqttLogSink(client)) : this.logger;
      logger.log(level, message);
    } catch {
      this.logger.log(level, message);
    } finally {
      await client?.end().catch(() => undefined);
    }
  }
}

function checkSetting(name: string, spec: SettingSpec): void {
  if (!SETTING_NAME.test(name)) {
    throw new Error(`setting ${name} has a bad name - must be alphanumeric, and only separated by underscore.`);
  }
  const allowed = new Set(["datatype", "settable", "unit", "persist"]);
  for (const key of Object.keys(spec)) {
    if (!allowed.has(key)) throw new Error(`Found extra property in setting \`${name}\`.`);
  }
  if (spec.datatype === undefined || spec.settable === undefined) {
    throw new Error(
      `Missing necessary property in setting \`${name}\`. All settings require at least {'datatype', 'settable'}`,
    );
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
