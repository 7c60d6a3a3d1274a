/**
 * Worker-thread entry of the streaming job's SQLite writer (started by sqlite-worker-row-store.ts
 * from the compiled `.js`). It owns its own connection to the leader database and inserts each
 * batch it is sent in one transaction, then answers with what was committed, so the job's thread
 * spends its time on MQTT and decoding instead of in SQLite (about half its work per row).
 *
 * Same rules as the in-thread SqliteRowStore: a row SQLite refuses is reported by its index and
 * the rest are committed; a failing database (busy, I/O, full …) rolls the whole batch back and
 * says so, and the job's writer retries it.
 */
import type Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";
import type { SqlValue } from "./rows";
import { type BatchRequest, errorData, type WriterReply, type WriterRequest } from "./sqlite-batch";
import { isDatabaseFailure, openStreamingConnection, type StreamingConnectionOptions } from "./sqlite-connection";

export interface WriterThreadData extends StreamingConnectionOptions {
  filename: string;
}

interface Slot {
  sql: string;
  /** Prepared on first use; a statement that failed to prepare (no such table) is tried again. */
  stmt: Database.Statement | undefined;
  /** Reused for every row of this statement: no array allocated per row. */
  args: SqlValue[];
}

function writeBatch(db: Database.Database, slots: Slot[], m: BatchRequest): WriterReply {
  for (const d of m.statements) slots[d.id] = { sql: d.sql, stmt: undefined, args: new Array<SqlValue>(d.width).fill(null) };
  const rowErrors: Array<{ index: number; error: ReturnType<typeof errorData> }> = [];
  let inserted = 0;
  let offset = 0;
  try {
    db.exec("BEGIN IMMEDIATE");
    for (let i = 0; i < m.statementIds.length; i++) {
      const slot = slots[m.statementIds[i]];
      const args = slot.args;
      for (let k = 0; k < args.length; k++) args[k] = m.values[offset + k];
      offset += args.length;
      try {
        slot.stmt ??= db.prepare(slot.sql);
        slot.stmt.run(args);
        inserted += 1;
      } catch (e) {
        if (isDatabaseFailure(e)) throw e;
        // A failed statement is undone on its own; the transaction and the other rows carry on.
        rowErrors.push({ index: i, error: errorData(e) });
      }
    }
    db.exec("COMMIT");
  } catch (e) {
    if (db.inTransaction) db.exec("ROLLBACK");
    return { type: "failed", id: m.id, error: errorData(e) };
  }
  return { type: "written", id: m.id, inserted, rowErrors };
}

function run(port: NonNullable<typeof parentPort>, data: WriterThreadData): void {
  let db: Database.Database;
  try {
    db = openStreamingConnection(data.filename, data);
  } catch (e) {
    port.postMessage({ type: "open-failed", error: errorData(e) } satisfies WriterReply);
    port.close();
    return;
  }
  const slots: Slot[] = [];
  port.on("message", (m: WriterRequest) => {
    if (m.type === "batch") {
      port.postMessage(writeBatch(db, slots, m) satisfies WriterReply);
      return;
    }
    db.close();
    port.postMessage({ type: "closed" } satisfies WriterReply);
    // Nothing else keeps the thread alive: it exits once the port is closed.
    port.close();
  });
  port.postMessage({ type: "ready" } satisfies WriterReply);
}

if (parentPort) run(parentPort, workerData as WriterThreadData);
