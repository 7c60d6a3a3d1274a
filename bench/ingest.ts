/**
 * Benchmark of `mqtt_to_db_streaming`: how many rows a second it stores, whether anything is lost,
 * and how long a reading takes from publish to committed row.
 *
 *   npx tsc -p . --outDir /tmp/pio-bench && NODE_PATH=$PWD/node_modules node /tmp/pio-bench/bench/ingest.js
 *   MQTT_TEST_BROKER=mqtt://127.0.0.1:1883 NODE_PATH=… node /tmp/pio-bench/bench/ingest.js   # Mosquitto too
 * (NODE_PATH because the build is outside the repository, away from node_modules.)
 *
 * Options (environment): INGEST_EMBEDDED=0 skips the embedded broker, INGEST_MESSAGES (100000), INGEST_UNITS (100), INGEST_SECONDS (30),
 * INGEST_PUBLISHERS (10 connections for the full-speed phase), INGEST_HIGH_WATER (the writer's
 * high-water mark in rows, default the job's), INGEST_SQLITE_THREAD=1 (insert from the SQLite
 * writer thread, as `[storage] streaming_writer_thread=1`; default: on the job's thread, as the
 * job does by default), INGEST_PIO_BROKER (a second
 * Mosquitto configured as a Pioreactor install configures it: `max_inflight_messages 1000` and the
 * default `max_queued_messages 1000`, so a subscriber more than ~2,000 messages behind loses some).
 *
 * Layout: the job runs on the main thread as in production (its own event loop, a real SQLite file
 * with the migrated schema and its triggers; the inserts on the job's thread unless
 * INGEST_SQLITE_THREAD=1). The publishers run in a worker thread, and so does
 * the embedded broker, so the three do not share one event loop. Mosquitto needs
 * `max_queued_messages 0` (its default of 1000 drops messages for a subscriber that falls behind).
 *
 * Phases:
 * 1. full speed: INGEST_MESSAGES OD readings, QoS 1, as fast as the publishers can push them
 *    (1,000 unacknowledged per connection); rows/s = messages ÷ (first publish → last commit).
 *    "job thread busy" is the event-loop utilisation of the job's thread: well under 100 % means
 *    the publishers and the broker, not the job, set the pace on these cores.
 * 1b. drain: the job stops, INGEST_MESSAGES more are published into its persistent session, then a
 *    new job starts and stores them: the subscriber's own speed (rows/s = messages ÷ (job start →
 *    last commit)).
 * 2. steady: INGEST_UNITS units each publishing one reading a second for INGEST_SECONDS; each
 *    payload carries its publish time, the store records the commit time of its row.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { IniDocument } from "../src/config/ini";
import { LayeredConfig } from "../src/config/layered";
import { KeyValueCache, openCacheDatabase } from "../src/jobs/local-storage";
import { JobRegistry } from "../src/jobs/registry";
import { migrateToLatest } from "../src/leader/db/migrate";
import { DEFAULT_MMAP_BYTES, openDatabase } from "../src/leader/db/open";
import { MqttToDbStreamer } from "../src/leader/streaming/job";
import { MqttIngestSource } from "../src/leader/streaming/mqtt-ingest";
import type { BatchResult, RowStore } from "../src/leader/streaming/row-store";
import type { TableRow } from "../src/leader/streaming/sinks";
import { SqliteRowStore } from "../src/leader/streaming/sqlite-row-store";
import { SqliteWorkerRowStore } from "../src/leader/streaming/sqlite-worker-row-store";
import { startEmbeddedBroker } from "../src/pubsub/broker";
import { connectMqtt, type MqttPubSubClient } from "../src/pubsub/client";
import { RealClock } from "../src/util/clock";

const env = process.env;
const MESSAGES = Number(env.INGEST_MESSAGES ?? 100_000);
const UNITS = Number(env.INGEST_UNITS ?? 100);
const SECONDS = Number(env.INGEST_SECONDS ?? 30);
const PUBLISHERS = Number(env.INGEST_PUBLISHERS ?? 10);
const SQLITE_THREAD = env.INGEST_SQLITE_THREAD === "1";

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads. */
const nowMs = () => performance.timeOrigin + performance.now();

function odPayload(od: number, channel = 1): string {
  return `{"calibrated":0,"timestamp":"2026-11-21T05:43:58.816000Z","angle":"90","od":${od},"channel":"${channel}","ir_led_intensity":80.0}`;
}

// ------------------------------------------------------------------ worker threads

type WorkerJob =
  | { role: "broker" }
  | { role: "full-speed"; url: string; messages: number; publishers: number; runId: string }
  | { role: "steady"; url: string; units: number; seconds: number; runId: string };

async function publishFullSpeed(w: Extract<WorkerJob, { role: "full-speed" }>): Promise<void> {
  const clients: MqttPubSubClient[] = [];
  for (let p = 0; p < w.publishers; p++) clients.push(await connectMqtt({ url: w.url, clientIdBase: `bench-pub-${p}` }));
  const perClient = Math.ceil(w.messages / w.publishers);
  const started = nowMs();
  parentPort?.postMessage({ started });
  await Promise.all(
    clients.map(async (c, p) => {
      const topic = `pioreactor/bench${w.runId}-${p}/exp/od_reading/od1`;
      const from = p * perClient;
      const to = Math.min(w.messages, from + perClient);
      for (let i = from; i < to; i += 1000) {
        const batch: Promise<void>[] = [];
        for (let s = i; s < Math.min(to, i + 1000); s++) batch.push(c.publish(topic, odPayload(s), { qos: 1 }));
        await Promise.all(batch);
      }
    }),
  );
  parentPort?.postMessage({ published: nowMs() });
  await Promise.all(clients.map((c) => c.end()));
}

async function publishSteady(w: Extract<WorkerJob, { role: "steady" }>): Promise<void> {
  const clients: MqttPubSubClient[] = [];
  for (let u = 0; u < w.units; u++) clients.push(await connectMqtt({ url: w.url, clientIdBase: `bench-unit-${u}` }));
  parentPort?.postMessage({ started: nowMs() });
  const sends: Promise<void>[] = [];
  await Promise.all(
    clients.map(async (c, u) => {
      // Spread the units over the second, as a real cluster's clocks are.
      await new Promise((r) => setTimeout(r, (1000 * u) / w.units));
      for (let k = 0; k < w.seconds; k++) {
        const due = nowMs() + 1000;
        sends.push(c.publish(`pioreactor/steady${w.runId}-${u}/exp/od_reading/od1`, odPayload(nowMs()), { qos: 1 }));
        await new Promise((r) => setTimeout(r, Math.max(0, due - nowMs())));
      }
    }),
  );
  await Promise.all(sends);
  parentPort?.postMessage({ published: nowMs() });
  await Promise.all(clients.map((c) => c.end()));
}

async function runWorker(w: WorkerJob): Promise<void> {
  if (w.role === "broker") {
    const broker = await startEmbeddedBroker({ port: 0 });
    parentPort?.postMessage({ url: broker.url });
    parentPort?.on("message", async () => {
      await broker.close();
      process.exit(0);
    });
    return;
  }
  if (w.role === "full-speed") await publishFullSpeed(w);
  else await publishSteady(w);
  parentPort?.postMessage({ done: true });
}

// ------------------------------------------------------------------ main thread

/** Records when each row was committed, to measure publish → row lag. */
class TimedStore implements RowStore {
  readonly description: string;
  readonly writesOffThread: boolean | undefined;
  commits: Array<{ od: number; committedAt: number }> = [];
  lastCommitAt = 0;
  constructor(private readonly inner: RowStore) {
    this.description = inner.description;
    this.writesOffThread = inner.writesOffThread;
  }
  async writeBatch(rows: readonly TableRow[]): Promise<BatchResult> {
    const result = await this.inner.writeBatch(rows);
    const at = nowMs();
    this.lastCommitAt = at;
    for (const r of rows) this.commits.push({ od: r.row.od_reading as number, committedAt: at });
    return result;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * CPU time of this process's main thread (the job's) in µs, from /proc (Linux; undefined
 * elsewhere). Unlike event-loop utilisation it does not count time the thread waited for a core,
 * which on a loaded machine is most of it.
 */
function mainThreadCpuMicros(): number | undefined {
  try {
    const stat = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return undefined;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Result {
  broker: string;
  phase: string;
  published: number;
  rows: number;
  lost: number;
  duplicates: number;
  seconds: number;
  rowsPerSecond: number;
  medianLagMs?: number;
  p99LagMs?: number;
  /** Process CPU time per stored row (drain phase: no publisher thread running). */
  cpuMicrosPerRow?: number;
  /** The job thread's own CPU time per stored row (drain phase): its share of the work. */
  jobThreadMicrosPerRow?: number;
  /** Event-loop utilisation of the job's thread over the phase (1 = never idle). */
  jobThreadBusy?: number;
}

function startWorker(job: WorkerJob): { worker: Worker; messages: AsyncIterableIterator<Record<string, number | string | boolean>> } {
  const worker = new Worker(__filename, { workerData: job });
  const queue: Record<string, number | string | boolean>[] = [];
  const waiting: Array<(v: IteratorResult<Record<string, number | string | boolean>>) => void> = [];
  worker.on("message", (m) => {
    const w = waiting.shift();
    if (w) w({ value: m, done: false });
    else queue.push(m);
  });
  worker.on("error", (e) => {
    console.error(e);
    process.exit(1);
  });
  const messages: AsyncIterableIterator<Record<string, number | string | boolean>> = {
    next: () => {
      const m = queue.shift();
      if (m) return Promise.resolve({ value: m, done: false });
      return new Promise((resolve) => waiting.push(resolve));
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return { worker, messages };
}

async function next(it: AsyncIterableIterator<Record<string, number | string | boolean>>, key: string): Promise<number | string> {
  for (;;) {
    const { value } = await it.next();
    if (key in value) return value[key] as number | string;
  }
}

async function benchBroker(name: string, url: string, drain = true): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), "pio-bench-ingest-"));
  const dbFile = join(dir, "pioreactor.sqlite");
  const knex = openDatabase({ client: "sqlite", filename: dbFile });
  await migrateToLatest(knex);
  await knex.destroy();
  const cacheDb = openCacheDatabase(join(dir, "intermittent.sqlite"));
  const store = new TimedStore(SQLITE_THREAD ? await SqliteWorkerRowStore.open(dbFile, { mmapBytes: DEFAULT_MMAP_BYTES }) : SqliteRowStore.open(dbFile));
  const ingestClientId = `mqtt_to_db_streaming-bench-${process.pid}-${Date.now()}`;
  const newJob = () => new MqttToDbStreamer(
    {
      unit: "leader",
      experiment: "$experiment",
      clock: new RealClock(),
      config: LayeredConfig.fromDocuments(IniDocument.parse("")),
      registry: new JobRegistry(cacheDb),
      connect: (req) => connectMqtt({ url, clientIdBase: req.clientIdBase, lastWill: req.lastWill, keepaliveSeconds: req.keepalive, clean: req.clean }),
      logSinks: [],
      leader: "leader",
      jobSource: "bench",
      pid: process.pid,
    },
    {
      ingest: new MqttIngestSource({ url, clientId: ingestClientId }),
      // The store outlives a job here: the drain phase stops the job and starts another.
      store: { description: store.description, writesOffThread: store.writesOffThread, writeBatch: (rows) => store.writeBatch(rows), close: async () => {} },
      statsCache: new KeyValueCache(cacheDb, "mqtt_to_db_streaming"),
      ...(env.INGEST_HIGH_WATER ? { writer: { highWaterRows: Number(env.INGEST_HIGH_WATER) } } : {}),
    },
  );
  let job = newJob();
  await job.start();
  const results: Result[] = [];
  const runId = `${process.pid}${Date.now().toString(36)}`;

  // Phase 1: full speed.
  {
    const { worker, messages } = startWorker({ role: "full-speed", url, messages: MESSAGES, publishers: PUBLISHERS, runId });
    const started = (await next(messages, "started")) as number;
    const elu = performance.eventLoopUtilization();
    await next(messages, "done");
    await waitForRows(store, MESSAGES, "full-speed");
    await job.whenWritten();
    const busy = performance.eventLoopUtilization(elu).utilization;
    await worker.terminate();
    const ods = store.commits.map((c) => c.od);
    const distinct = new Set(ods).size;
    const seconds = (store.lastCommitAt - started) / 1000;
    results.push({
      broker: name,
      phase: `full speed, ${PUBLISHERS} publishers`,
      published: MESSAGES,
      rows: ods.length,
      lost: MESSAGES - distinct,
      duplicates: ods.length - distinct,
      seconds,
      rowsPerSecond: distinct / seconds,
      jobThreadBusy: busy,
    });
    store.commits = [];
  }

  // Phase 1b: the subscriber alone. The job's session is kept by the broker while the job is
  // stopped; the messages published meanwhile are queued there, then a new job drains them with
  // no publisher competing for the cores.
  if (drain) {
    await job.stop();
    const { worker, messages } = startWorker({ role: "full-speed", url, messages: MESSAGES, publishers: PUBLISHERS, runId: `${runId}q` });
    await next(messages, "done");
    await worker.terminate();
    const started = nowMs();
    const elu = performance.eventLoopUtilization();
    // The publishers' thread has ended: the process's CPU time is the job's (and the embedded
    // broker's thread, when that is the broker, and the SQLite writer thread).
    const cpu = process.cpuUsage();
    const mainCpu = mainThreadCpuMicros();
    job = newJob();
    await job.start();
    await waitForRows(store, MESSAGES, "drain");
    await job.whenWritten();
    const busy = performance.eventLoopUtilization(elu).utilization;
    const used = process.cpuUsage(cpu);
    const mainCpuAfter = mainThreadCpuMicros();
    const distinct = new Set(store.commits.map((c) => c.od)).size;
    const seconds = (store.lastCommitAt - started) / 1000;
    results.push({
      broker: name,
      phase: "drain of a queued session (subscriber alone)",
      cpuMicrosPerRow: (used.user + used.system) / distinct,
      jobThreadMicrosPerRow: mainCpu === undefined || mainCpuAfter === undefined ? undefined : (mainCpuAfter - mainCpu) / distinct,
      published: MESSAGES,
      rows: store.commits.length,
      lost: MESSAGES - distinct,
      duplicates: store.commits.length - distinct,
      seconds,
      rowsPerSecond: distinct / seconds,
      jobThreadBusy: busy,
    });
    store.commits = [];
  }

  // Phase 2: steady cluster load, lag.
  {
    const expected = UNITS * SECONDS;
    const { worker, messages } = startWorker({ role: "steady", url, units: UNITS, seconds: SECONDS, runId });
    const started = (await next(messages, "started")) as number;
    await next(messages, "done");
    await waitForRows(store, expected, "steady");
    await worker.terminate();
    const lags = store.commits.map((c) => c.committedAt - c.od).sort((a, b) => a - b);
    const distinct = new Set(store.commits.map((c) => c.od)).size;
    const seconds = (store.lastCommitAt - started) / 1000;
    results.push({
      broker: name,
      phase: `${UNITS} units × 1/s for ${SECONDS} s`,
      published: expected,
      rows: store.commits.length,
      lost: expected - distinct,
      duplicates: store.commits.length - distinct,
      seconds,
      rowsPerSecond: distinct / seconds,
      medianLagMs: percentile(lags, 50),
      p99LagMs: percentile(lags, 99),
    });
  }

  await job.stop();
  await store.close();
  cacheDb.close();
  rmSync(dir, { recursive: true, force: true });
  return results;
}

/**
 * The same burst to a subscriber that does nothing but acknowledge (mqtt.js, no decoding, no
 * database): what the broker delivers at best on this machine, the floor for any subscriber.
 */
async function bareSubscriber(name: string, url: string): Promise<Result> {
  const mqtt = require("mqtt") as typeof import("mqtt");
  const client = mqtt.connect(url, { clientId: `bench-bare-${process.pid}`, clean: true, log: () => {} });
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  const runId = `${process.pid}${Date.now().toString(36)}b`;
  const seen = new Set<string>();
  client.on("message", (_topic, payload) => seen.add(/"od":([^,]+)/.exec(payload.toString())?.[1] ?? ""));
  await client.subscribeAsync(`pioreactor/+/+/od_reading/od1`, { qos: 1 });
  const { worker, messages } = startWorker({ role: "full-speed", url, messages: MESSAGES, publishers: PUBLISHERS, runId });
  const started = (await next(messages, "started")) as number;
  await next(messages, "done");
  await worker.terminate();
  let last = -1;
  let lastChange = nowMs();
  while (seen.size < MESSAGES && nowMs() - lastChange < 3000) {
    if (seen.size !== last) {
      last = seen.size;
      lastChange = nowMs();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await client.endAsync();
  return {
    broker: name,
    phase: "full speed, bare subscriber (acknowledges only)",
    published: MESSAGES,
    rows: seen.size,
    lost: MESSAGES - seen.size,
    duplicates: 0,
    seconds: (lastChange - started) / 1000,
    rowsPerSecond: seen.size / ((lastChange - started) / 1000),
  };
}

/** Waits until `expected` rows are committed, or until nothing new arrived for 5 s (then some are lost). */
async function waitForRows(store: TimedStore, expected: number, phase: string): Promise<void> {
  let last = -1;
  let stillSince = Date.now();
  while (store.commits.length < expected) {
    if (store.commits.length !== last) {
      last = store.commits.length;
      stillSince = Date.now();
    } else if (Date.now() - stillSince > 5000) {
      console.error(`${phase}: no new rows for 5 s at ${last}/${expected}; counting the rest as lost.`);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function printTable(results: Result[]): void {
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? "-" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const rows = [
    ["broker", "phase", "published", "rows", "lost", "dup", "seconds", "rows/s", "median lag ms", "p99 lag ms", "job thread busy", "CPU µs/row", "job thread CPU µs/row"],
    ...results.map((r) => [
      r.broker,
      r.phase,
      fmt(r.published),
      fmt(r.rows),
      fmt(r.lost),
      fmt(r.duplicates),
      fmt(r.seconds, 2),
      fmt(r.rowsPerSecond),
      fmt(r.medianLagMs, 2),
      fmt(r.p99LagMs, 2),
      r.jobThreadBusy === undefined ? "-" : `${Math.round(r.jobThreadBusy * 100)} %`,
      fmt(r.cpuMicrosPerRow, 1),
      fmt(r.jobThreadMicrosPerRow, 1),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(rows[0]));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

async function main(): Promise<void> {
  const results: Result[] = [];
  if (env.INGEST_EMBEDDED !== "0") {
    const { worker: brokerWorker, messages } = startWorker({ role: "broker" });
    const url = (await next(messages, "url")) as string;
    results.push(...(await benchBroker("embedded (aedes)", url)));
    brokerWorker.postMessage("close");
  }
  const asUrl = (u: string) => (/^[a-z]+:\/\//.test(u) ? u : `mqtt://${u}`);
  const external = env.MQTT_TEST_BROKER?.trim();
  if (external) results.push(...(await benchBroker("mosquitto", asUrl(external))));
  const installLike = env.INGEST_PIO_BROKER?.trim();
  // No drain phase there: that broker keeps only 1,000 messages for a disconnected client.
  if (installLike) {
    results.push(...(await benchBroker("mosquitto, install limits", asUrl(installLike), false)));
    results.push(await bareSubscriber("mosquitto, install limits", asUrl(installLike)));
  }
  console.log(`SQLite written on ${SQLITE_THREAD ? "the writer thread" : "the job's thread"} (INGEST_SQLITE_THREAD=${SQLITE_THREAD ? 1 : 0})`);
  printTable(results);
  process.exit(0);
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  void runWorker(workerData as WorkerJob);
}
