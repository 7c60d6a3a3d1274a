/**
 * Real parts for job tests: a registry and caches in a temporary SQLite file, the shipped default
 * config (with optional overrides), broker connections to a test broker, and a log sink that
 * records every line. A recorder subscribes to a unit's topics and keeps what arrives in order.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import type { JobDeps } from "../../src/jobs/background-job";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";
import { type LogRecord, type LogSink, MqttLogSink } from "../../src/jobs/logger";
import { JobRegistry } from "../../src/jobs/registry";
import { connectMqtt } from "../../src/pubsub/client";
import type { MqttMessage, PubSubClient } from "../../src/pubsub/types";
import { type Clock, RealClock } from "../../src/util/clock";

export function exampleConfig(overrides: Array<[string, string, string]> = []): LayeredConfig {
  const file = path.join(__dirname, "..", "..", "config", "config.example.ini");
  return LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(file, "utf8"), { file })).withOverrides(overrides);
}

export class RecordingLogSink implements LogSink {
  readonly records: LogRecord[] = [];
  write(record: LogRecord): void {
    this.records.push(record);
  }
  messages(level?: string): string[] {
    return this.records.filter((r) => !level || r.level === level).map((r) => r.message);
  }
}

export interface Harness {
  deps: JobDeps;
  logs: RecordingLogSink;
  registry: JobRegistry;
  cache(name: string): KeyValueCache;
  dir: string;
  close(): void;
}

export function jobHarness(opts: {
  brokerUrl: string;
  unit: string;
  experiment: string;
  clock?: Clock;
  config?: LayeredConfig;
  pid?: number;
}): Harness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-job-"));
  const db = openCacheDatabase(path.join(dir, "intermittent.sqlite"));
  const registry = new JobRegistry(db);
  const logs = new RecordingLogSink();
  const deps: JobDeps = {
    unit: opts.unit,
    experiment: opts.experiment,
    clock: opts.clock ?? new RealClock(),
    config: opts.config ?? exampleConfig(),
    registry,
    connect: (req) =>
      connectMqtt({
        url: opts.brokerUrl,
        clientIdBase: req.clientIdBase,
        lastWill: req.lastWill,
        keepaliveSeconds: req.keepalive,
        clean: req.clean,
        reconnectInitialDelayMs: 100,
        reconnectMaxDelayMs: 500,
      }),
    logSinks: [logs],
    mqttLogSink: (client) => new MqttLogSink(client),
    leader: "leader",
    jobSource: "user",
    pid: opts.pid ?? process.pid,
    isActive: true,
  };
  return {
    deps,
    logs,
    registry,
    cache: (name) => new KeyValueCache(db, name),
    dir,
    close: () => {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Recorded {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** Collects every message under a filter, in arrival order. */
export class TopicRecorder {
  readonly messages: Recorded[] = [];
  private constructor(private readonly client: PubSubClient) {}

  /**
   * `qos` 1 keeps arrival order as sent: an MQTT client hands over a QoS 2 message only after its
   * PUBREL, so a QoS 0 message sent later can overtake it at a QoS 2 subscriber.
   */
  static async start(brokerUrl: string, filter: string, qos: 0 | 1 | 2 = 1): Promise<TopicRecorder> {
    const client = await connectMqtt({ url: brokerUrl, clientIdBase: "recorder" });
    const recorder = new TopicRecorder(client);
    await client.subscribe(
      filter,
      (m: MqttMessage) => recorder.messages.push({ topic: m.topic, payload: m.payload.toString("utf8"), qos: m.qos, retain: m.retain }),
      { qos },
    );
    return recorder;
  }

  /** Resolves when a message matching `predicate` has arrived (or rejects after `timeoutMs`). */
  async waitFor(predicate: (m: Recorded) => boolean, timeoutMs = 10_000): Promise<Recorded> {
    const started = Date.now();
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`timed out waiting for a message; saw:\n${this.messages.map((m) => `${m.topic} ${m.payload}`).join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Messages after index `from`, minus log lines, as `topic-suffix payload` strings. */
  sequence(prefix: string, from = 0): string[] {
    return this.messages
      .slice(from)
      .filter((m) => !m.topic.includes("/logs/"))
      .map((m) => `${m.topic.slice(prefix.length)} ${m.payload}`.trimEnd());
  }

  clear(): void {
    this.messages.length = 0;
  }

  end(): Promise<void> {
    return this.client.end();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
