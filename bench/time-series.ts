/**
 * The overview charts' time-series route on a long experiment: 4 units × 500,000 od_readings
 * (one every 5 s, about a month), 4 × 100,000 growth rates and 4 × 20,000 temperatures, in a
 * SQLite file built through the project's migrations (its triggers fill the activity table too).
 * The real express app answers on loopback; each route is called CALLS times in a row with the
 * UI's query (`target_points=1400`, the chart descriptors' lookbacks) over a keep-alive socket.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/time-series.js [calls] [--db FILE] [--mmap-mib N]
 *
 * Server and client share this process, so "CPU ms/call" (both, per call) is the figure to
 * compare when other work loads the machine; wall times are reported with the load average. The
 * client only collects the body's bytes within the timed call (it parses the last body once, after
 * the loop). "read p50 ms" is the route's reading function alone (`readSeriesJson`, no express, no
 * HTTP), called as many times right after: the difference is what the HTTP round trip costs.
 *
 * `--db FILE` keeps the filled database in FILE and reuses it on the next run (filling takes
 * about a minute on 2 cores). `--mmap-mib N` maps N MiB of the file instead of the original's 256:
 * beyond the map every page a seek touches is copied in by a system call, and a long experiment's
 * recent rows sit at the end of a file larger than that.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Knex } from "knex";
import { readSeriesJson, SERIES_SOURCES, SeriesStatements } from "../src/leader/web/time-series";
import { buildDatabase, DEFAULT_PLAN, EXPERIMENT, percentile, startBenchLeader } from "./leader-fixture";

const ROUTES = [
  { name: "od_readings (2,000,000 rows)", source: "od_readings", lookback: 50000 },
  { name: "growth_rates (400,000 rows)", source: "growth_rates", lookback: 100000 },
  { name: "temperature_readings (80,000 rows)", source: "temperature_readings", lookback: 100000 },
];

function get(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      })
      .on("error", reject);
  });
}

/** Wall ms of `calls` direct reads (after a warm-up one), as the route reads; checks the text equals the HTTP body. */
async function timeReads(db: Knex, source: string, lookbackHours: number, calls: number, body: string): Promise<number[]> {
  const statements = new SeriesStatements();
  const times: number[] = [];
  for (let i = 0; i < calls + 1; i++) {
    const now = Date.now();
    const w = { experiment: EXPERIMENT, from: new Date(now - lookbackHours * 3600_000).toISOString(), to: new Date(now).toISOString(), targetPoints: 1400 };
    const t0 = performance.now();
    const text = await readSeriesJson(db, SERIES_SOURCES[source], w, undefined, statements);
    if (i > 0) times.push(performance.now() - t0);
    if (text.length !== body.length) throw new Error(`${source}: the direct read differs from the HTTP body`);
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dbAt = args.indexOf("--db");
  const keptDb = dbAt >= 0 ? path.resolve(args[dbAt + 1]) : undefined;
  const mmapAt = args.indexOf("--mmap-mib");
  const mmapBytes = mmapAt >= 0 ? Number(args[mmapAt + 1]) * 1024 * 1024 : undefined;
  const calls = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== "--db" && args[i - 1] !== "--mmap-mib") ?? 30);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-ts-"));
  const dbFile = keptDb ?? path.join(tmp, "pioreactor.sqlite");
  if (!fs.existsSync(dbFile)) {
    const built = await buildDatabase(dbFile, DEFAULT_PLAN, Date.now());
    console.log(`filled ${built.rows.toLocaleString("en-US")} rows in ${built.seconds.toFixed(1)} s`);
  }
  const leader = await startBenchLeader(dbFile, { mmapBytes });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  console.log(`| route | calls | p50 ms | p99 ms | max ms | CPU ms/call | read p50 ms | series | points | bytes |`);
  console.log(`|---|---|---|---|---|---|---|---|---|---|`);
  for (const route of ROUTES) {
    const url = `${leader.url}/api/experiments/${encodeURIComponent(EXPERIMENT)}/time_series/${route.source}?target_points=1400&lookback=${route.lookback}`;
    const times: number[] = [];
    let cpu = { user: 0, system: 0 };
    let last = { status: 0, body: "" };
    for (let i = 0; i < calls + 1; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      last = await get(agent, url);
      // The first call warms the page cache and the prepared statements; it is not counted.
      if (i > 0) {
        times.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu = { user: cpu.user + c.user, system: cpu.system + c.system };
      }
    }
    if (last.status !== 200) throw new Error(`${route.source}: HTTP ${last.status} ${last.body.slice(0, 200)}`);
    const parsed = JSON.parse(last.body) as { series: string[]; data: unknown[][] };
    const points = parsed.data.reduce((n, d) => n + d.length, 0);
    times.sort((a, b) => a - b);
    const reads = await timeReads(leader.db, route.source, route.lookback, calls, last.body);
    const f = (n: number) => n.toFixed(1);
    console.log(
      `| ${route.name} | ${calls} | ${f(percentile(times, 50))} | ${f(percentile(times, 99))} | ${f(times[times.length - 1])} | ${f((cpu.user + cpu.system) / 1000 / calls)} | ${f(percentile(reads, 50))} | ${parsed.series.length} | ${points} | ${last.body.length} |`,
    );
  }
  agent.destroy();
  await leader.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
