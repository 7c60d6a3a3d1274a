/**
 * A leader web server for tests: a temp `$DOT_PIOREACTOR` with config.ini, a migrated SQLite
 * file, an embedded MQTT broker with a recording subscriber, an in-memory job registry, a fake
 * job launcher and stopper, real HTTP on loopback (fan-out calls this same server).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Knex } from "knex";
import { IniDocument } from "../../../src/config/ini";
import { LayeredConfig } from "../../../src/config/layered";
import { KeyValueCache, openCacheDatabase } from "../../../src/jobs/local-storage";
import { JobRegistry } from "../../../src/jobs/registry";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { openDatabase } from "../../../src/leader/db/open";
import { createApp } from "../../../src/leader/web/app";
import type { WebContext, WebDeps } from "../../../src/leader/web/deps";
import { recordingSystem } from "./recording-system";
import type { JobLaunchRequest } from "../../../src/leader/web/job-launcher";
import { RegistryJobStopper } from "../../../src/leader/web/job-stopper";
import type { ProfileRunner } from "../../../src/leader/web/profile-runner";
import type { KillFilter } from "../../../src/jobs/registry";
import { type RunningServer, startServer } from "../../../src/leader/web/server";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../../src/pubsub/broker";
import { connectMqtt, type MqttPubSubClient } from "../../../src/pubsub/client";
import type { MqttMessage } from "../../../src/pubsub/types";
import { RealClock } from "../../../src/util/clock";

export const BASE_CONFIG = `[cluster.topology]
leader_hostname=leader
leader_address=127.0.0.1

[mqtt]
username=pioreactor
password=raspberry
broker_address=127.0.0.1

[ui]
port=80
proto=http

[storage]
database=DB_PATH
`;

export interface Harness {
  dir: string;
  dot: string;
  db: Knex;
  url: string;
  brokerUrl: string;
  server: RunningServer;
  context: WebContext;
  registry: JobRegistry;
  /** The unit's persistent caches (a temp SQLite file), as the server sees them. */
  persistentCache(name: string): KeyValueCache;
  launched: JobLaunchRequest[];
  stopped: Array<KillFilter | "all">;
  messages: MqttMessage[];
  /** Messages on topics matching `pattern`, waiting up to 2 s for at least `count`. */
  waitForMessages(pattern: RegExp, count?: number): Promise<MqttMessage[]>;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
  request(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  writeConfig(text: string): void;
  /** `keepDir` leaves the files for a restarted harness (`options.dir`). */
  close(keepDir?: boolean): Promise<void>;
}

/** What a test-built profile runner gets: the server's address and MQTT connection, once they exist. */
export interface ProfileRunnerWorld {
  url: string;
  pubsub: MqttPubSubClient;
  registry: JobRegistry;
  dot: string;
}

export interface HarnessOptions {
  /** Builds the server's ProfileRunner after the server is up; job stops then go through a real RegistryJobStopper. */
  profileRunner?: (world: ProfileRunnerWorld) => ProfileRunner;
  /** Reuse a `$DOT_PIOREACTOR` parent (and its database) from an earlier harness: a server restart. */
  dir?: string;
}

export async function startHarness(overrides: Partial<WebDeps> = {}, configText = BASE_CONFIG, options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "pio-web-"));
  const dot = path.join(dir, ".pioreactor");
  fs.mkdirSync(dot, { recursive: true });
  const dbPath = path.join(dir, "pioreactor.sqlite");
  const writeConfig = (text: string) => fs.writeFileSync(path.join(dot, "config.ini"), text.replace("DB_PATH", dbPath));
  if (!options.dir) writeConfig(configText);
  const db = openDatabase({ client: "sqlite", filename: dbPath, recursiveTriggers: true });
  await migrateToLatest(db);
  const broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0 });
  const publisher: MqttPubSubClient = await connectMqtt({ url: broker.url, clientIdBase: "web-test" });
  const listener: MqttPubSubClient = await connectMqtt({ url: broker.url, clientIdBase: "web-listener" });
  const messages: MqttMessage[] = [];
  await listener.subscribe("#", (m) => messages.push(m), { qos: 2 });
  const registry = overrides.registry ?? new JobRegistry(new Database(":memory:"));
  const persistentDb = openCacheDatabase(path.join(dir, "persistent.sqlite"));
  const persistentCache = (name: string) => new KeyValueCache(persistentDb, name);
  const launched: JobLaunchRequest[] = [];
  const stopped: Array<KillFilter | "all"> = [];
  let baseUrl = "";
  let runner: ProfileRunner | undefined;
  const runnerProxy: ProfileRunner | undefined = options.profileRunner && {
    start: (r) => (runner as ProfileRunner).start(r),
    stop: (id) => (runner as ProfileRunner).stop(id),
  };
  const config = () => {
    const shared = IniDocument.parse(fs.readFileSync(path.join(dot, "config.ini"), "utf8"));
    const localFile = path.join(dot, "unit_config.ini");
    return LayeredConfig.fromDocuments(shared, fs.existsSync(localFile) ? IniDocument.parse(fs.readFileSync(localFile, "utf8")) : undefined);
  };
  const { app, context } = createApp({
    unitName: "leader",
    isLeader: true,
    dotPioreactor: dot,
    config,
    db,
    clock: new RealClock(),
    mqtt: publisher,
    registry,
    persistentCache,
    unitModel: async () => ({ modelName: "pioreactor_40ml", modelVersion: "1.5" }),
    jobLauncher: {
      launch: async (r) => {
        launched.push(r);
        return { ok: true };
      },
    },
    jobStopper: runnerProxy
      ? new RegistryJobStopper({ registry, profileRunner: runnerProxy, signal: () => stopped.push("all") })
      : {
          stop: async (f) => {
            stopped.push(f);
            return 1;
          },
          stopAll: async () => {
            stopped.push("all");
            return 1;
          },
        },
    ...(runnerProxy ? { profileRunner: runnerProxy } : {}),
    fetch,
    unitBaseUrl: () => baseUrl,
    reportError: () => {},
    // Never the real system port: a power or clock route must not reboot the machine running tests.
    system: recordingSystem(false),
    ...overrides,
  });
  const server = await startServer(app, { port: 0, host: "127.0.0.1", broker });
  baseUrl = server.url;
  if (options.profileRunner) runner = options.profileRunner({ url: server.url, pubsub: publisher, registry, dot });

  const request: Harness["request"] = async (method, route, body, headers = {}) => {
    const response = await fetch(`${server.url}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? (body as string) : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text, headers: response.headers };
  };

  return {
    dir,
    dot,
    db,
    url: server.url,
    brokerUrl: broker.url,
    server,
    context,
    registry,
    persistentCache,
    launched,
    stopped,
    messages,
    async waitForMessages(pattern, count = 1) {
      const deadline = Date.now() + 2000;
      for (;;) {
        const found = messages.filter((m) => pattern.test(m.topic));
        if (found.length >= count || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    request,
    writeConfig,
    async close(keepDir = false) {
      await server.close();
      await publisher.end();
      await listener.end();
      await broker.close();
      await db.destroy();
      persistentDb.close();
      if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls a TaskAccepted until it finishes. */
// biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
export async function taskResult(h: Harness, resultPath: string): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const r = await h.request("GET", resultPath);
    if (r.status === 200) return r.json;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`task ${resultPath} did not finish`);
}

/** What a fresh subscriber gets from the broker's retained store for `topic` (payload, QoS, retain flag). */
export async function retainedMessage(h: Harness, topic: string): Promise<MqttMessage | undefined> {
  const client = await connectMqtt({ url: h.brokerUrl, clientIdBase: "retained-check" });
  try {
    let got: MqttMessage | undefined;
    await client.subscribe(
      topic,
      (m) => {
        if (m.retain) got = m;
      },
      { qos: 2 },
    );
    for (let i = 0; i < 50 && got === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    return got;
  } finally {
    await client.end();
  }
}
