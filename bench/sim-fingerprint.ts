/**
 * A fingerprint of a simulated run's database: per table, the row count and a hash of its rows
 * (sorted, so insertion order does not count), and one hash over all. An optimisation of the
 * simulation must leave it unchanged; run it before and after (twice: it must also repeat).
 *
 *   npm run build && node dist/bench/sim-fingerprint.js [--units 8] [--days 0.1] [--threads 1]
 *
 * Runs `sim-week.js` with a fixed start in a child process. Skipped: knex's own tables (they hold
 * wall-clock migration times) and the output folder's path inside log lines.
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), "pio-sim-fingerprint-"));
const week = path.join(__dirname, "sim-week.js");
const args = [week, "--units", arg("units", "8"), "--days", arg("days", "0.1"), "--threads", arg("threads", "1"), "--start", "2026-01-01T00:00:00Z", "--out", out];
const run = spawnSync(process.execPath, args, { encoding: "utf8" });
if (run.status !== 0) {
  process.stderr.write(run.stderr);
  process.exit(1);
}
const db = new Database(path.join(out, "pioreactor.sqlite"), { readonly: true });
const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[]).filter(
  (t) => !t.startsWith("knex_migrations"),
);
const all = crypto.createHash("sha256");
for (const t of tables) {
  const rows = (db.prepare(`SELECT * FROM "${t}"`).raw().all() as unknown[][]).map((r) => JSON.stringify(r).split(out).join("OUT")).sort();
  if (rows.length === 0) continue;
  const h = crypto.createHash("sha256").update(rows.join("\n")).digest("hex").slice(0, 12);
  all.update(t + h);
  process.stdout.write(`${t.padEnd(40)} ${String(rows.length).padStart(9)} ${h}\n`);
}
db.close();
fs.rmSync(out, { recursive: true, force: true });
process.stdout.write(`ALL ${all.digest("hex").slice(0, 16)}\n`);
