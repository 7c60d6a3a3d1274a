/**
 * What handing a batch of rows to the SQLite writer thread costs, per row: packing it
 * (sqlite-batch.ts) plus `postMessage` on the job's thread, and receiving it on the other, against
 * posting the row objects themselves.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/sqlite-batch-post.js
 *
 * Rows are OD readings as the sinks make them; 1,000 per batch (the writer's batch size), 300
 * batches per variant, after 50 to warm up. The receiving thread only touches each value.
 */
import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { BatchEncoder } from "../src/leader/streaming/sqlite-batch";
import type { TableRow } from "../src/leader/streaming/sinks";

const ROWS = 1000;
const BATCHES = 300;
const WARMUP = 50;

function rows(n: number, from: number): TableRow[] {
  return Array.from({ length: n }, (_, i) => ({
    table: "od_readings",
    row: { experiment: "exp", pioreactor_unit: `unit${i % 8}`, timestamp: "2026-11-21T05:43:58.816Z", od_reading: from + i, angle: 90, channel: 1 },
  }));
}

async function variant(name: string, post: (w: Worker, batch: TableRow[]) => void): Promise<void> {
  const worker = new Worker(__filename);
  let mainMs = 0;
  for (let b = 0; b < WARMUP + BATCHES; b++) {
    const batch = rows(ROWS, b * ROWS);
    const replied = new Promise<number>((resolve) => worker.once("message", resolve));
    const t0 = performance.now();
    post(worker, batch);
    if (b >= WARMUP) mainMs += performance.now() - t0;
    await replied;
  }
  const workerActiveMs = await new Promise<number>((resolve) => {
    worker.once("message", resolve);
    worker.postMessage("elu");
  });
  await worker.terminate();
  const perRow = (ms: number) => ((ms * 1000) / (BATCHES * ROWS)).toFixed(2);
  console.log(`| ${name} | ${perRow(mainMs)} | ${perRow(workerActiveMs * (BATCHES / (WARMUP + BATCHES)))} |`);
}

async function main(): Promise<void> {
  console.log("| variant | job thread µs/row (pack + postMessage) | writer thread µs/row (receive, ≈) |");
  console.log("|---|---|---|");
  await variant("row objects", (w, batch) => w.postMessage(batch));
  const encoder = new BatchEncoder();
  await variant("statement ids + flat values (sqlite-batch.ts)", (w, batch) => w.postMessage(encoder.encode(batch)));
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  const start = performance.eventLoopUtilization();
  parentPort?.on("message", (m: unknown) => {
    if (m === "elu") {
      parentPort?.postMessage(performance.eventLoopUtilization(start).active);
      return;
    }
    let n = 0;
    if (Array.isArray(m)) for (const r of m as TableRow[]) n += Object.keys(r.row).length;
    else n = (m as { values: unknown[] }).values.length;
    parentPort?.postMessage(n);
  });
}
