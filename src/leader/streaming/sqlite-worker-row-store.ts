/**
 * RowStore on the leader's SQLite file whose inserts run in a worker thread
 * (sqlite-writer-worker.ts) with its own better-sqlite3 connection. The job's thread only packs
 * each batch (sqlite-batch.ts) and posts it; `writeBatch` resolves when the worker has committed
 * it, so for the writer (writer.ts) and the job nothing changes: the batch stays in the backlog,
 * and counts towards holding the broker back, until it is durable, and a failed batch is retried.
 *
 * The thread is started on open and again after it died (the batch in flight then fails and the
 * writer retries it on a fresh thread). It keeps the process alive only while a batch is in flight.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { BatchResult, RowStore } from "./row-store";
import type { TableRow } from "./sinks";
import { BatchEncoder, type BatchRequest, errorFromData, type WriterReply, type WriterRequest } from "./sqlite-batch";
import type { StreamingConnectionOptions } from "./sqlite-connection";
import type { WriterThreadData } from "./sqlite-writer-worker";

const SCRIPT = "sqlite-writer-worker.js";

/**
 * The compiled worker entry: beside this file when running the build (dist/), else the build's
 * copy when running the TypeScript sources (tests through swc); undefined if there is no build.
 */
export function sqliteWriterThreadScript(): string | undefined {
  const beside = path.join(__dirname, SCRIPT);
  if (existsSync(beside)) return beside;
  const built = path.resolve(__dirname, "..", "..", "..", "dist", "src", "leader", "streaming", SCRIPT);
  return existsSync(built) ? built : undefined;
}

export interface SqliteWorkerRowStoreOptions extends StreamingConnectionOptions {
  /** Default: `sqliteWriterThreadScript()`. */
  script?: string;
}

interface InFlight {
  request: BatchRequest;
  rows: readonly TableRow[];
  resolve(result: BatchResult): void;
  reject(e: Error): void;
}

interface WriterThread {
  worker: Worker;
  encoder: BatchEncoder;
  ready: Promise<void>;
  inFlight: Map<number, InFlight>;
  exited: Promise<void>;
}

export class SqliteWorkerRowStore implements RowStore {
  readonly description: string;
  readonly writesOffThread = true;
  private current: WriterThread | undefined;
  private closed = false;
  private readonly script: string;

  private constructor(
    private readonly filename: string,
    private readonly options: SqliteWorkerRowStoreOptions,
  ) {
    this.description = filename;
    const script = options.script ?? sqliteWriterThreadScript();
    if (!script) throw new Error(`The SQLite writer thread's compiled script (${SCRIPT}) was not found; run \`npm run build\`.`);
    this.script = script;
  }

  /** Starts the thread and opens the file there; rejects as SqliteRowStore.open would throw. */
  static async open(filename: string, options: SqliteWorkerRowStoreOptions = {}): Promise<SqliteWorkerRowStore> {
    const store = new SqliteWorkerRowStore(filename, options);
    await store.thread();
    return store;
  }

  async writeBatch(rows: readonly TableRow[]): Promise<BatchResult> {
    if (rows.length === 0) return { inserted: 0, rowErrors: [] };
    const t = await this.thread();
    const request = t.encoder.encode(rows);
    return new Promise<BatchResult>((resolve, reject) => {
      t.inFlight.set(request.id, { request, rows, resolve, reject });
      t.worker.ref();
      try {
        t.worker.postMessage(request satisfies WriterRequest);
      } catch (e) {
        // Not sent (a value that cannot be cloned): the thread may now miss statement
        // definitions the encoder believes it has, so start over with a new one.
        t.inFlight.delete(request.id);
        void t.worker.terminate();
        reject(e as Error);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const t = this.current;
    if (!t) return;
    const opened = await t.ready.then(
      () => true,
      () => false,
    );
    if (opened && this.current === t) {
      t.worker.ref();
      t.worker.postMessage({ type: "close" } satisfies WriterRequest);
    }
    await t.exited;
  }

  private async thread(): Promise<WriterThread> {
    if (this.closed) throw new Error("The SQLite writer thread is closed.");
    this.current ??= this.startThread();
    const t = this.current;
    await t.ready;
    return t;
  }

  private startThread(): WriterThread {
    const data: WriterThreadData = { filename: this.filename, mmapBytes: this.options.mmapBytes, busyTimeoutMs: this.options.busyTimeoutMs };
    const worker = new Worker(this.script, { workerData: data });
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    let resolveExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      resolveExited = resolve;
    });
    const t: WriterThread = { worker, encoder: new BatchEncoder(), ready, inFlight: new Map(), exited };
    const failAll = (e: Error) => {
      rejectReady(e);
      for (const f of t.inFlight.values()) f.reject(e);
      t.inFlight.clear();
    };
    worker.on("message", (reply: WriterReply) => {
      if (reply.type === "ready") {
        // Idle until the first batch: an idle writer must not keep the process alive (but one
        // still opening must, or a process with nothing else to do yet exits before it is ready).
        if (t.inFlight.size === 0) worker.unref();
        resolveReady();
      }
      else if (reply.type === "open-failed") rejectReady(errorFromData(reply.error));
      else if (reply.type === "written" || reply.type === "failed") {
        const f = t.inFlight.get(reply.id);
        if (!f) return;
        t.inFlight.delete(reply.id);
        if (t.inFlight.size === 0) worker.unref();
        if (reply.type === "failed") f.reject(errorFromData(reply.error));
        else f.resolve(this.result(t, f, reply));
      }
    });
    worker.on("error", (e) => failAll(e));
    worker.on("exit", (code) => {
      if (this.current === t) this.current = undefined;
      failAll(new Error(`The SQLite writer thread stopped (exit code ${code}).`));
      resolveExited();
    });
    return t;
  }

  private result(t: WriterThread, f: InFlight, reply: Extract<WriterReply, { type: "written" }>): BatchResult {
    return {
      inserted: reply.inserted,
      rowErrors: reply.rowErrors.map(({ index, error }) => ({
        table: f.rows[index].table,
        row: f.rows[index].row,
        error: errorFromData(error),
        sql: t.encoder.sql(f.request.statementIds[index]),
      })),
    };
  }
}
