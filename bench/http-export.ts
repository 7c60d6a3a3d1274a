/**
 * The Export Data page's path end to end: `POST /api/datasets/exportable/export` on a leader with
 * N OD readings (4 units × 2 channels), polling `/unit_api/task_results/<id>` as the UI does, then
 * downloading `/exports/<file>`. Also the preview route's latency. Real HTTP on loopback, real
 * SQLite file, the app as `pio serve` builds it (MQTT publishes go nowhere).
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/http-export.js [rows]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { IniDocument } from "../src/config/ini";
import { LayeredConfig } from "../src/config/layered";
import { JobRegistry } from "../src/jobs/registry";
import { migrateToLatest } from "../src/leader/db/migrate";
import { openDatabase } from "../src/leader/db/open";
import { createApp } from "../src/leader/web/app";
import { startServer } from "../src/leader/web/server";
import { RealClock } from "../src/util/clock";

async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 400_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-export-"));
  const dot = path.join(dir, ".pioreactor");
  fs.mkdirSync(dot);
  const dbPath = path.join(dir, "pioreactor.sqlite");
  fs.writeFileSync(path.join(dot, "config.ini"), `[cluster.topology]\nleader_hostname=leader\nleader_address=127.0.0.1\n[storage]\ndatabase=${dbPath}\n`);
  const db = openDatabase({ client: "sqlite", filename: dbPath, recursiveTriggers: true });
  await migrateToLatest(db);
  await db("experiments").insert({ experiment: "exp1", created_at: "2026-01-01T00:00:00.000Z", description: "" });
  // Insert directly (no triggers needed for the export) in one transaction.
  const raw = new Database(dbPath);
  raw.exec("DROP TRIGGER IF EXISTS update_pioreactor_unit_activity_data_from_od_readings");
  const insert = raw.prepare("INSERT INTO od_readings (experiment, pioreactor_unit, timestamp, od_reading, angle, channel) VALUES (?, ?, ?, ?, 90, ?)");
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  raw.transaction(() => {
    for (let i = 0; i < rows; i++) {
      insert.run("exp1", `unit${i % 4}`, new Date(t0 + Math.floor(i / 8) * 5000).toISOString(), Math.random(), (i % 2) + 1);
    }
  })();
  raw.close();

  const config = () => LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(path.join(dot, "config.ini"), "utf8")));
  const { app } = createApp({
    unitName: "leader",
    isLeader: true,
    dotPioreactor: dot,
    config,
    db,
    clock: new RealClock(),
    mqtt: { publish: async () => {} },
    registry: new JobRegistry(new Database(":memory:")),
    jobLauncher: { launch: async () => ({ ok: true }) },
    jobStopper: { stop: async () => 0, stopAll: async () => 0 },
    fetch,
  });
  const server = await startServer(app, { port: 0, host: "127.0.0.1" });
  const url = server.url;

  const previews: number[] = [];
  for (let i = 0; i < 30; i++) {
    const s = performance.now();
    await (await fetch(`${url}/api/datasets/exportable/od_readings/preview?n_rows=100`)).json();
    previews.push(performance.now() - s);
  }
  previews.sort((a, b) => a - b);

  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const start = performance.now();
  const accepted = (await (
    await fetch(`${url}/api/datasets/exportable/export`, {
      method: "POST",
      body: JSON.stringify({ datasets: ["od_readings"], experiment: "exp1", partition_by_unit: true, partition_by_experiment: false }),
    })
  ).json()) as { result_url_path: string };
  let result: { status: string; result?: { filename: string } };
  for (;;) {
    // The UI's export page polls every second; poll faster to time the work, not the poll.
    result = (await (await fetch(`${url}${accepted.result_url_path}`)).json()) as typeof result;
    if (result.status === "succeeded" || result.status === "failed") break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const exported = performance.now() - start;
  if (result.status !== "succeeded" || !result.result) throw new Error(`export failed: ${JSON.stringify(result)}`);
  const download = Buffer.from(await (await fetch(`${url}/exports/${result.result.filename}`)).arrayBuffer());
  const total = performance.now() - start;
  clearInterval(sampler);

  console.log(
    JSON.stringify({
      rows,
      preview_100_rows_ms: { p50: +previews[15].toFixed(1), max: +previews[29].toFixed(1) },
      export_task_s: +(exported / 1000).toFixed(2),
      export_plus_download_s: +(total / 1000).toFixed(2),
      rows_per_s: Math.round(rows / (exported / 1000)),
      zip_mb: +(download.length / 1e6).toFixed(1),
      peak_rss_mb: Math.round(peakRss / 1e6),
    }),
  );
  await server.close();
  await db.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
