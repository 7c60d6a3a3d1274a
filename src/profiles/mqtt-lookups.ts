/**
 * Expression lookups (`unit:job:setting`) served from one shared MQTT subscription cache.
 *
 * The original opens a fresh MQTT connection per lookup and blocks the scheduler up to 2 s each
 * time (spec §5.6). Here each topic is subscribed once, on first use, on the run's own connection;
 * the first use waits (up to 2 s, as the original) for the retained or first live message, later
 * uses read the last value at once. Every change is announced to watchers, which is how a `when`
 * re-checks the moment its data moves instead of 15–25 s later.
 *
 * Failure semantics are the original's: an unknown topic reads as "nothing" (the evaluator raises
 * its MQTTValueError), an inactive unit raises the original's NameError text.
 */
import type { PubSubClient, Subscription } from "../pubsub/types";
import { ExpressionError } from "./expressions";
import type { WatchableLookups } from "./executor";

export interface MqttLookupDeps {
  pubsub: PubSubClient;
  /** The unit's current experiment (the leader API, or the run's experiment in test mode). */
  experimentOf(unit: string): Promise<string>;
  /** False for an inactive unit; omitted means "every unit is active" (test mode). */
  isActive?(unit: string): Promise<boolean>;
  /** How long the first read of a topic waits for a message (the original: 2 s). */
  firstMessageWaitMs?: number;
}

interface Entry {
  unit: string;
  job: string;
  setting: string;
  value: string | null;
  ready: Promise<void>;
  subscription?: Subscription;
}

type Watcher = (unit: string, job: string, setting: string) => void;

export class MqttLookupCache implements WatchableLookups {
  private readonly entries = new Map<string, Entry>();
  private watchers: Watcher[] = [];

  constructor(private readonly deps: MqttLookupDeps) {}

  experimentOf(unit: string): Promise<string> {
    return this.deps.experimentOf(unit);
  }

  async get(unit: string, job: string, setting: string): Promise<string | null | undefined> {
    const experiment = await this.deps.experimentOf(unit);
    if (this.deps.isActive && !(await this.deps.isActive(unit))) {
      // The original means to raise NotActiveWorkerError but never imported it (spec §5.6 step 3).
      throw new ExpressionError("NameError", "name 'NotActiveWorkerError' is not defined");
    }
    const topic = `pioreactor/${unit}/${experiment}/${job}/${setting}`;
    let entry = this.entries.get(topic);
    if (!entry) {
      entry = this.subscribe(topic, unit, job, setting);
      this.entries.set(topic, entry);
    }
    await entry.ready;
    return entry.value;
  }

  private subscribe(topic: string, unit: string, job: string, setting: string): Entry {
    let firstMessage!: () => void;
    const arrived = new Promise<void>((resolve) => {
      firstMessage = resolve;
    });
    const entry: Entry = { unit, job, setting, value: null, ready: Promise.resolve() };
    const waitMs = this.deps.firstMessageWaitMs ?? 2000;
    entry.ready = (async () => {
      entry.subscription = await this.deps.pubsub.subscribe(
        topic,
        (m) => {
          const value = m.payload.length === 0 ? null : m.payload.toString("utf8");
          const changed = value !== entry.value;
          entry.value = value;
          firstMessage();
          if (changed) for (const w of this.watchers) w(unit, job, setting);
        },
        { qos: 2 },
      );
      // A wall-clock wait: it is the broker's latency, whatever clock the profile runs on.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([arrived, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    })();
    return entry;
  }

  watch(listener: Watcher): () => void {
    this.watchers.push(listener);
    return () => {
      this.watchers = this.watchers.filter((w) => w !== listener);
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.subscription?.unsubscribe().catch(() => undefined)));
    this.entries.clear();
  }
}
