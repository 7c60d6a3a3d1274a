/**
 * Profile expression lookups (`unit:job:setting`) answered from the in-process bus's retained
 * store: what a fresh MQTT subscription would receive first, read at once. The shared MQTT cache
 * (profiles/mqtt-lookups.ts) waits up to 2 s of *wall* time for a first message, which is right
 * for a real broker but would let simulated time race on meanwhile; here nothing waits, so a
 * seeded simulation is the same run every time. Changes still wake waiting `when`s: each topic
 * read once is watched, as the MQTT cache does.
 */
import type { WatchableLookups } from "../profiles/executor";
import type { PubSubClient, Subscription } from "../pubsub/types";
import type { InProcessBus } from "./in-process-bus";

type Watcher = (unit: string, job: string, setting: string) => void;

export class BusLookups implements WatchableLookups {
  private readonly watched = new Map<string, Promise<Subscription>>();
  private watchers: Watcher[] = [];

  constructor(
    private readonly bus: InProcessBus,
    private readonly pubsub: PubSubClient,
    private readonly experiment: string,
  ) {}

  experimentOf(): string {
    return this.experiment;
  }

  async get(unit: string, job: string, setting: string): Promise<string | null> {
    const topic = `pioreactor/${unit}/${this.experiment}/${job}/${setting}`;
    if (!this.watched.has(topic)) {
      this.watched.set(
        topic,
        this.pubsub.subscribe(
          topic,
          () => {
            for (const w of this.watchers) w(unit, job, setting);
          },
          { qos: 2, allowRetained: false },
        ),
      );
    }
    return this.bus.retainedValue(topic) ?? null;
  }

  watch(listener: Watcher): () => void {
    this.watchers.push(listener);
    return () => {
      this.watchers = this.watchers.filter((w) => w !== listener);
    };
  }

  async close(): Promise<void> {
    for (const s of this.watched.values()) await (await s).unsubscribe();
    this.watched.clear();
  }
}
