/**
 * `$state` bookkeeping for one-shot actions (pumps, od_blank, self_test …), the equivalent of the
 * original's `managed_lifecycle`: a registry row, `$state` init → ready → disconnected (retained,
 * QoS 2) with a last will of `lost`, and a stop request on `disconnected` sent to
 * `pioreactor/{unit|$broadcast}/{experiment|$experiment}/<key>/$state/set`.
 *
 * Unlike a BackgroundJob nothing is cleared at the end and there is no single-instance check: two
 * `add_media` runs may overlap, as in the original (the PWM lock is what keeps pins apart).
 *
 * Two transports:
 * - `connect`: the lifecycle opens its own connection (a `pio run add_media` process);
 * - `shared`: it publishes through a host job's connection (a dosing automation calling a pump);
 *   the host listens for stop requests and aborts through `shared.stop`.
 */
import type { PubSubClient, QoS, Subscription } from "../pubsub/types";
import { encodeSettingValue } from "../pubsub/codec";
import type { ConnectRequest } from "./background-job";
import type { JobRegistry } from "./registry";

export const UNIVERSAL_EXPERIMENT = "$experiment";
const UNIVERSAL_UNIT = "$broadcast";

export type LifecycleState = "init" | "ready" | "disconnected";

export interface SharedTransport {
  publish(topic: string, payload: string | Buffer, opts: { qos: QoS; retain: boolean }): void;
  /** Aborted by the host when this action must stop (host shutting down, stop request seen). */
  stop: AbortSignal;
}

export interface ManagedLifecycleOptions {
  unit: string;
  experiment: string;
  name: string;
  registry: JobRegistry;
  jobSource: string;
  pid: number;
  leader: string;
  /** Opens the action's own connection; ignored when `shared` is given. */
  connect?: (request: ConnectRequest) => Promise<PubSubClient>;
  shared?: SharedTransport;
  /** Stop when the broker connection drops (pumps: never keep pumping blind). */
  stopOnBrokerDisconnect?: boolean;
  /** MQTT keepalive of the own connection, seconds (pumps use 10 as the original). */
  keepaliveSeconds?: number;
  /** Long-running variant: registry flag set, `$state` under `<name>/<job_id>`. */
  longRunning?: boolean;
}

export class ManagedLifecycle {
  state: LifecycleState = "init";
  readonly jobId: number;
  private readonly controller = new AbortController();
  private client: PubSubClient | undefined;
  private subscription: Subscription | undefined;
  private readonly pending = new Set<Promise<void>>();
  private closed = false;
  private stopReason: string | undefined;
  private readonly onHostStop = () => this.requestStop("host stopped");
  private detachHost: () => void = () => undefined;

  private constructor(private readonly options: ManagedLifecycleOptions) {
    this.jobId = options.registry.register({
      unit: options.unit,
      experiment: options.experiment,
      jobName: options.name,
      jobSource: options.jobSource,
      pid: options.pid,
      leader: options.leader,
      isLongRunning: options.longRunning ?? false,
    });
    if (options.shared) {
      const shared = options.shared;
      if (shared.stop.aborted) this.requestStop("host stopped");
      else {
        shared.stop.addEventListener("abort", this.onHostStop, { once: true });
        this.detachHost = () => shared.stop.removeEventListener("abort", this.onHostStop);
      }
    }
  }

  /** Registers, connects (or borrows the host's connection), publishes `init`, listens for stop requests. */
  static async open(options: ManagedLifecycleOptions): Promise<ManagedLifecycle> {
    if (!options.shared && !options.connect) throw new Error("managed lifecycle needs either `connect` or `shared`");
    const lifecycle = new ManagedLifecycle(options);
    try {
      await lifecycle.connectIfOwn();
      lifecycle.publishSetting("$state", "init");
      await lifecycle.listenForStopRequests();
    } catch (e) {
      await lifecycle.close();
      throw e;
    }
    return lifecycle;
  }

  /** `<name>`, or `<name>/<job_id>` for the long-running variant. */
  get jobKey(): string {
    return this.options.longRunning ? `${this.options.name}/${this.jobId}` : this.options.name;
  }

  /** Aborted when a stop was requested (MQTT, broker loss, host, `requestStop`). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The action's own broker connection (undefined when sharing a host's); for an MQTT log sink. */
  get ownConnection(): PubSubClient | undefined {
    return this.client;
  }

  get stopRequested(): boolean {
    return this.controller.signal.aborted;
  }

  get whyStopped(): string | undefined {
    return this.stopReason;
  }

  /** Resolves when a stop is requested (for actions that run until told otherwise). */
  untilStopRequested(): Promise<void> {
    if (this.stopRequested) return Promise.resolve();
    return new Promise((resolve) => this.signal.addEventListener("abort", () => resolve(), { once: true }));
  }

  requestStop(reason: string): void {
    if (this.controller.signal.aborted) return;
    this.stopReason = reason;
    // The reason as the signal's reason: without one, abort() builds a DOMException (with a stack
    // trace) for every pump action that ends, and nothing reads it.
    this.controller.abort(reason);
  }

  markReady(): void {
    this.state = "ready";
    this.publishSetting("$state", "ready");
  }

  /** Retained QoS 2 under this action's key, and recorded in the registry. */
  publishSetting(setting: string, value: unknown, datatype = "string"): void {
    this.publish(`pioreactor/${this.options.unit}/${this.options.experiment}/${this.jobKey}/${setting}`, encodeSettingValue(value, datatype), {
      qos: 2,
      retain: true,
    });
    this.options.registry.upsertSetting(this.jobId, setting, value);
  }

  /** Any other publish (dosing events …), on the same connection. */
  publish(topic: string, payload: string | Buffer, opts: { qos: QoS; retain: boolean }): void {
    if (this.options.shared) {
      this.options.shared.publish(topic, payload, opts);
      return;
    }
    if (!this.client) return;
    const p = this.client.publish(topic, payload, opts).catch(() => undefined);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Publishes `disconnected`, marks the registry row stopped, closes an own connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.detachHost();
    this.requestStop(this.stopReason ?? "finished");
    this.state = "disconnected";
    try {
      this.publishSetting("$state", "disconnected");
    } finally {
      this.options.registry.setNotRunning(this.jobId);
      await this.subscription?.unsubscribe().catch(() => undefined);
      while (this.pending.size > 0) await Promise.all([...this.pending]);
      await this.client?.end().catch(() => undefined);
    }
  }

  private async connectIfOwn(): Promise<void> {
    if (this.options.shared) return;
    const { unit, experiment } = this.options;
    this.client = await this.options.connect!({
      clientIdBase: `${this.jobKey}-${unit}-${experiment}`,
      lastWill: { topic: `pioreactor/${unit}/${experiment}/${this.jobKey}/$state`, payload: "lost", qos: 2, retain: true },
      keepalive: this.options.keepaliveSeconds ?? 300,
      clean: true,
    });
    if (this.options.stopOnBrokerDisconnect) {
      this.client.onDisconnect(() => this.requestStop("lost connection to the MQTT broker"));
    }
  }

  private async listenForStopRequests(): Promise<void> {
    if (!this.client) return;
    this.subscription = await this.client.subscribe(
      stopRequestTopics(this.options.unit, this.options.experiment, this.jobKey),
      (m) => {
        if (m.payload.toString("utf8") === "disconnected") this.requestStop("a $state/set disconnected request");
      },
      { qos: 2, allowRetained: false },
    );
  }
}

/** The four `$state/set` topics an action obeys: own or broadcast unit × own or universal experiment. */
export function stopRequestTopics(unit: string, experiment: string, jobKey: string): string[] {
  return [
    `pioreactor/${unit}/${experiment}/${jobKey}/$state/set`,
    `pioreactor/${UNIVERSAL_UNIT}/${experiment}/${jobKey}/$state/set`,
    `pioreactor/${UNIVERSAL_UNIT}/${UNIVERSAL_EXPERIMENT}/${jobKey}/$state/set`,
    `pioreactor/${unit}/${UNIVERSAL_EXPERIMENT}/${jobKey}/$state/set`,
  ];
}
