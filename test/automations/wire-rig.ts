/**
 * A simulated unit (see helpers/rig.ts) whose jobs talk to a real MQTT broker, for comparing our
 * traffic with the original's wire captures. Every publish our clients make is recorded as issued
 * (topic, payload, QoS, retain: what the capture's `r=`/`q=` show), and a QoS 2 subscriber records
 * what the broker actually delivers. Virtual time only advances once everything published so far
 * has come back through the broker, so message-driven behaviour (a turbidostat reacting to
 * `od_filtered`) sees the same order as on a real unit.
 */
import { connectMqtt } from "../../src/pubsub/client";
import type { ConnectRequest, JobDeps } from "../../src/jobs/background-job";
import { encodeMsgspecJson } from "../../src/pubsub/codec";
import type { MqttMessage, PubSubClient } from "../../src/pubsub/types";
import { formatPayloadTimestamp } from "../../src/util/python-format";
import { uniqueSuffix } from "../helpers/broker";
import { Rig, type RigOptions } from "./helpers/rig";
import type { WireLine } from "./wire-capture";
import { linearPumpCalibration } from "../../src/actions/pump-calibration";

export interface Received {
  topic: string;
  payload: string;
  qos: number;
}

/** The pumps of the dosing captures: calibrated at 100 Hz, 60 % duty, 1 mL/s (the simulator agrees). */
export const CAPTURED_PUMPS: RigOptions = {
  pumpMlPerSecondAtFullDuty: 1 / 0.6,
  calibrations: {
    media_pump: linearPumpCalibration("media", 1, 60, 100),
    waste_pump: linearPumpCalibration("waste", 1, 60, 100),
  },
};

export class BrokerRig extends Rig {
  /** What our clients published, in the order they issued it. */
  readonly published: WireLine[] = [];
  /** What a QoS 2 subscriber to `pioreactor/<unit>/#` received, in arrival order. */
  readonly received: Received[] = [];
  private readonly clients: PubSubClient[] = [];
  private watcher: PubSubClient | undefined;
  private feeder: { cancel(): void } | undefined;

  constructor(
    private readonly brokerUrl: string,
    opts: RigOptions = {},
  ) {
    // A unit name of our own: a shared broker (Mosquitto) keeps other runs' retained topics.
    super({ unit: `leader${uniqueSuffix()}`, ...opts });
  }

  /** The prefix every topic of this unit and experiment starts with. */
  get prefix(): string {
    return `pioreactor/${this.unit}/${this.experiment}/`;
  }

  /** Subscribes the watcher; call before starting any job. */
  async open(): Promise<this> {
    this.watcher = await connectMqtt({ url: this.brokerUrl, clientIdBase: "wire-watcher" });
    await this.watcher.subscribe(
      `pioreactor/${this.unit}/#`,
      (m: MqttMessage) => this.received.push({ topic: m.topic, payload: m.payload.toString("utf8"), qos: m.qos }),
      { qos: 2, allowRetained: false },
    );
    return this;
  }

  override deps(experiment = this.experiment): JobDeps {
    return { ...super.deps(experiment), connect: (req) => this.connectRecorded(req) };
  }

  /** A connection to the broker whose publishes are recorded as issued. */
  async connectRecorded(req: Pick<ConnectRequest, "clientIdBase"> & Partial<ConnectRequest>): Promise<PubSubClient> {
    const client = await connectMqtt({
      url: this.brokerUrl,
      clientIdBase: req.clientIdBase,
      lastWill: req.lastWill,
      keepaliveSeconds: req.keepalive,
      clean: req.clean,
    });
    const publish = client.publish.bind(client);
    client.publish = (topic, payload, o) => {
      this.published.push({ topic, payload: payload.toString(), qos: o?.qos ?? 0, retain: o?.retain ?? false });
      return publish(topic, payload, o);
    };
    this.clients.push(client);
    return client;
  }

  /**
   * Messages the QoS 2 watcher received with another QoS than they were published with (the
   * broker grants min(publish, subscription) QoS), as `topic payload: sent → received`.
   */
  qosMismatches(): string[] {
    return this.received.flatMap((m) => {
      const sent = this.published.find((p) => p.topic === m.topic && p.payload === m.payload);
      return sent && sent.qos === m.qos ? [] : [`${m.topic} ${m.payload}: ${sent?.qos ?? "never sent"} → ${m.qos}`];
    });
  }

  /** Waits (real time) until the broker has delivered everything our clients published. */
  async settle(): Promise<void> {
    const deadline = Date.now() + 5_000;
    let seen = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 2));
      const mine = this.published.filter((p) => p.topic.startsWith(`pioreactor/${this.unit}/`)).length;
      const stable = this.received.length === seen;
      seen = this.received.length;
      if (this.received.length >= mine && stable) return;
      if (Date.now() > deadline) {
        const missing = this.published.filter((p) => !this.received.some((r) => r.topic === p.topic && r.payload === p.payload));
        throw new Error(`broker delivered ${this.received.length} of ${mine} messages; missing: ${missing.map((p) => `${p.topic} ${p.payload}`).join("\n")}`);
      }
    }
  }

  /** Advances virtual time by `ms`, one due timer at a time, settling with the broker in between. */
  override async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      await this.settle();
      const due = this.clock.nextDue();
      if (due === undefined || due > end) break;
      await this.clock.advanceTo(due);
    }
    await this.clock.advanceTo(end);
    await this.settle();
  }

  /** Runs virtual time until `p` settles (a job's start or stop). */
  async drive<T>(p: Promise<T>, maxMs = 600_000): Promise<T> {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    const end = this.clock.now() + maxMs;
    const realDeadline = Date.now() + 20_000;
    while (!done) {
      await this.settle();
      // Real I/O (a QoS 2 handshake the job awaits) gets ample time to finish before virtual time
      // moves: a timer fired early would interleave its publishes with the ones awaited here.
      for (let i = 0; i < 100 && !done; i++) await new Promise((r) => setTimeout(r, 5));
      if (done) break;
      const due = this.clock.nextDue();
      // Nothing due: the job waits on real I/O (connecting, a broker round trip).
      if (due !== undefined && due <= end) await this.clock.advanceTo(due);
      else if (Date.now() > realDeadline) throw new Error("drive: the promise never settled");
    }
    return p;
  }

  /**
   * Publishes what od_reading and growth_rate_calculating would, every `intervalS` (retained,
   * QoS 2, in the original's order), from the simulator's ground truth.
   */
  async startBrokerFeeder(intervalS = 5, normalizedOd: () => number = () => 0.96): Promise<void> {
    const client = await this.connectRecorded({ clientIdBase: "wire-feeder" });
    for (const jobName of ["od_reading", "growth_rate_calculating"]) {
      this.registry.register({ unit: this.unit, experiment: this.experiment, jobName, jobSource: "user", pid: process.pid, leader: "leader", isLongRunning: false });
    }
    const feed = () => {
      const r = this.sim.bioreactor.readout();
      const ts = formatPayloadTimestamp(this.clock.now());
      const reading = { calibrated: 0, timestamp: ts, angle: "90", od: r.od, channel: "2", ir_led_intensity: 80.0 };
      const opts = { qos: 2 as const, retain: true };
      void client.publish(`${this.prefix}od_reading/ods`, encodeMsgspecJson({ timestamp: ts, ods: { "2": reading } }), opts);
      void client.publish(`${this.prefix}growth_rate_calculating/growth_rate`, encodeMsgspecJson({ growth_rate: r.growthRatePerHour, timestamp: ts }), opts);
      void client.publish(`${this.prefix}growth_rate_calculating/od_filtered`, encodeMsgspecJson({ od_filtered: normalizedOd(), timestamp: ts }), opts);
    };
    this.feeder = this.clock.setInterval(feed, intervalS * 1000);
  }

  /** Registers a running stirring job, as in the captures (dosing warns without one). */
  pretendStirringRuns(): void {
    this.registry.register({ unit: this.unit, experiment: this.experiment, jobName: "stirring", jobSource: "user", pid: process.pid, leader: "leader", isLongRunning: true });
  }

  /** What a subscriber arriving now gets as retained under `topicPrefix` (topic → payload). */
  async retainedSnapshot(topicPrefix = `pioreactor/${this.unit}/`): Promise<Map<string, string>> {
    const late = await connectMqtt({ url: this.brokerUrl, clientIdBase: "wire-late" });
    const seen = new Map<string, string>();
    await late.subscribe(`${topicPrefix}#`, (m) => {
      if (m.retain) seen.set(m.topic, m.payload.toString("utf8"));
    });
    await new Promise((r) => setTimeout(r, 300));
    await late.end();
    return seen;
  }

  /** Clears every retained topic this rig left on the broker (a shared broker outlives the test). */
  async clearRetained(): Promise<void> {
    const left = await this.retainedSnapshot();
    const client = await connectMqtt({ url: this.brokerUrl, clientIdBase: "wire-cleaner" });
    for (const topic of left.keys()) await client.publish(topic, "", { qos: 1, retain: true });
    await client.end();
  }

  async shutdown(): Promise<void> {
    this.feeder?.cancel();
    await this.clearRetained().catch(() => undefined);
    await Promise.all([...this.clients, ...(this.watcher ? [this.watcher] : [])].map((c) => c.end().catch(() => undefined)));
    this.close();
  }
}
