/**
 * The experiment's rows from the leader database as one CSV per table (only tables that received
 * rows), written as the original's export writes values (csv.ts). One file per table rather than
 * the export module's ZIP: someone trying the simulator opens `od_readings.csv` straight away.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { csvLine, renderSqliteValue } from "../leader/export/csv";
import { streamingTables } from "../leader/streaming/rows";

export interface ExportedTable {
  table: string;
  rows: number;
  file: string;
}

export function exportTablesAsCsv(databaseFile: string, experiment: string, dir: string): ExportedTable[] {
  fs.mkdirSync(dir, { recursive: true });
  const db = new Database(databaseFile, { readonly: true });
  db.defaultSafeIntegers(true);
  const out: ExportedTable[] = [];
  try {
    const tables = ["experiments", "experiment_worker_assignments", ...streamingTables()];
    for (const table of [...new Set(tables)]) {
      const columns = (db.prepare(`PRAGMA table_info("${table}")`).all() as Array<{ name: string }>).map((c) => c.name);
      if (!columns.includes("experiment")) continue;
      const stmt = db.prepare(`SELECT * FROM "${table}" WHERE experiment = ? ORDER BY rowid`);
      const file = path.join(dir, `${table}.csv`);
      let rows = 0;
      const fd = fs.openSync(file, "w");
      try {
        fs.writeSync(fd, csvLine(columns));
        let chunk = "";
        for (const row of stmt.iterate(experiment) as Iterable<Record<string, unknown>>) {
          chunk += csvLine(columns.map((c) => renderSqliteValue(row[c])));
          rows++;
          if (chunk.length > 1 << 16) {
            fs.writeSync(fd, chunk);
            chunk = "";
          }
        }
        fs.writeSync(fd, chunk);
      } finally {
        fs.closeSync(fd);
      }
      if (rows === 0) fs.rmSync(file);
      else out.push({ table, rows, file });
    }
  } finally {
    db.close();
  }
  return out;
}
