/**
 * Makes an embedded broker's retained messages survive a restart. The original's Mosquitto runs
 * with `persistence false`, so a broker restart wipes every job's `$state` and settings until each
 * job happens to republish; with a snapshot the UI and the leader see the last known tree at once.
 *
 * How: the broker's in-memory persistence keeps working as is; we watch its `storeRetained` (the
 * one place the broker commits a retained message or its deletion), keep our own topic → message
 * map, and write it as JSON atomically (temp file, fsync, rename) shortly after changes and on close.
 */
import { readFileSync, renameSync } from "node:fs";
import { CoalescedSaver, writeFileAtomic } from "./snapshot-io";
import type { PubSubLogger, QoS } from "./types";

export interface RetainedRecord {
  topic: string;
  qos: QoS;
  payload: Buffer;
}

interface SnapshotFileShape {
  format: "pioreactor-ts retained messages";
  version: 1;
  messages: { topic: string; qos: QoS; payload_base64: string }[];
}

/** The snapshot file: read once at start, rewritten whole and atomically. */
export class RetainedSnapshotFile {
  constructor(
    readonly path: string,
    private readonly logger: PubSubLogger,
  ) {}

  /** Missing file → empty. An unreadable one is moved aside (never silently overwritten) and we start empty. */
  load(): RetainedRecord[] {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as SnapshotFileShape;
      if (parsed.version !== 1 || !Array.isArray(parsed.messages)) throw new Error("unknown layout");
      return parsed.messages.map((m) => ({ topic: m.topic, qos: m.qos, payload: Buffer.from(m.payload_base64, "base64") }));
    } catch (err) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      renameSync(this.path, aside);
      this.logger.warn(`Retained-message snapshot ${this.path} was unreadable (${(err as Error).message}); moved it to ${aside} and started empty.`);
      return [];
    }
  }

  save(records: Iterable<RetainedRecord>): Promise<void> {
    return writeFileAtomic(this.path, this.serialize(records));
  }

  private serialize(records: Iterable<RetainedRecord>): string {
    const shape: SnapshotFileShape = {
      format: "pioreactor-ts retained messages",
      version: 1,
      messages: [...records].map((r) => ({ topic: r.topic, qos: r.qos, payload_base64: r.payload.toString("base64") })),
    };
    return `${JSON.stringify(shape, null, 1)}\n`;
  }
}

/** The slice of an aedes persistence we hook into (aedes 1.x calls it without a callback). */
interface RetainingPersistence {
  storeRetained(packet: { topic: string; payload: Buffer | string; qos: number }, cb?: (err?: Error | null) => void): unknown;
}

/**
 * Tracks retained messages passing through `persistence.storeRetained` and snapshots them to
 * `file`, at most every `delayMs` while changes keep coming. `records()` seeds the map from the
 * file; replay them into the broker with a retained publish before accepting clients.
 */
export class RetainedSnapshotter {
  private readonly retained = new Map<string, RetainedRecord>();
  private readonly saver: CoalescedSaver;

  constructor(
    private readonly file: RetainedSnapshotFile,
    private readonly logger: PubSubLogger,
    delayMs = 250,
  ) {
    for (const r of file.load()) this.retained.set(r.topic, r);
    this.saver = new CoalescedSaver(
      () =>
        this.file.save(this.retained.values()).catch((err: Error) => {
          this.logger.error(`Could not save retained messages to ${this.file.path}: ${err.message}`);
          throw err;
        }),
      delayMs,
    );
  }

  /** What the file held at start, to republish as retained before clients connect. */
  initialRecords(): RetainedRecord[] {
    return [...this.retained.values()];
  }

  /** Wraps `persistence.storeRetained` in place so every retained change reaches us. */
  watch<P extends RetainingPersistence>(persistence: P): P {
    const original = persistence.storeRetained.bind(persistence);
    persistence.storeRetained = (packet, cb) => {
      this.record(packet.topic, Buffer.from(packet.payload), packet.qos as QoS);
      return original(packet, cb);
    };
    return persistence;
  }

  private record(topic: string, payload: Buffer, qos: QoS): void {
    if (topic.startsWith("$SYS/")) return;
    if (payload.length === 0) this.retained.delete(topic);
    else this.retained.set(topic, { topic, payload, qos });
    this.saver.changed();
  }

  /** Stops without writing: the broker never served (e.g. its port was taken by another one using this file). */
  abandon(): Promise<void> {
    return this.saver.stop();
  }

  /** Final write (call after the broker stopped publishing). */
  async close(): Promise<void> {
    await this.saver.stop();
    await this.file.save(this.retained.values());
  }
}
