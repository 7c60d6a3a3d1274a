/**
 * The UI's start-up requests under many browsers at once: the real app on loopback over a migrated
 * SQLite file holding a 3-day, 4-unit experiment (see leader-fixture.ts), and CLIENTS concurrent
 * clients (one keep-alive socket each, as one browser tab's API calls on HTTP/1.1 mostly reuse a
 * connection), each fetching the start-up set in order, ROUNDS times. p50/p99 per route.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/ui-startup.js [clients=50] [rounds=10]
 *
 * The set is what the shell, the overview and the Pioreactors page ask for first (web-api spec
 * §1.1, §1.5–1.8, §3.1): config, latest experiment, workers, models, assignments, descriptors, one
 * chart, recent logs, media rates, unit labels and the profiles list.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { buildDatabase, DEFAULT_PLAN, EXPERIMENT, percentile, startBenchLeader } from "./leader-fixture";

const exp = encodeURIComponent(EXPERIMENT);
const ROUTES = [
  "/api/config/shared",
  "/api/experiments/latest",
  "/api/experiments",
  "/api/workers",
  "/api/models",
  "/api/workers/assignments",
  "/api/experiments/assignment_count",
  `/api/experiments/${exp}/unit_labels`,
  "/api/charts/descriptors",
  "/api/jobs/descriptors",
  "/api/settings/descriptors",
  "/api/automations/descriptors/dosing",
  `/api/experiments/${exp}/time_series/growth_rates?target_points=1400&lookback=100000`,
  `/api/experiments/${exp}/recent_logs?min_level=info`,
  `/api/experiments/${exp}/media_rates`,
  "/api/experiment_profiles",
];

function get(agent: http.Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

async function main(): Promise<void> {
  const clients = Number(process.argv[2] ?? 50);
  const rounds = Number(process.argv[3] ?? 10);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-ui-"));
  const dbFile = path.join(tmp, "pioreactor.sqlite");
  // Three days of one reading every 5 s per unit.
  const plan = { ...DEFAULT_PLAN, odRowsPerUnit: 51_840, growthRowsPerUnit: 51_840, temperatureRowsPerUnit: 4_320, logRowsPerUnit: 5_000 };
  const built = await buildDatabase(dbFile, plan, Date.now());
  console.log(`filled ${built.rows.toLocaleString("en-US")} rows in ${built.seconds.toFixed(1)} s`);
  const leader = await startBenchLeader(dbFile);
  // Each route alone first (one client, 20 calls after a warm-up): its own cost, without queueing.
  const alone = new Map<string, number>();
  {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const route of ROUTES) {
      await get(agent, leader.url + route);
      const list: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await get(agent, leader.url + route);
        list.push(performance.now() - t0);
      }
      alone.set(route, percentile(list.sort((a, b) => a - b), 50));
    }
    agent.destroy();
  }
  const times = new Map<string, number[]>(ROUTES.map((r) => [r, []]));
  const failures: string[] = [];
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let round = 0; round < rounds; round++) {
        for (const route of ROUTES) {
          const t0 = performance.now();
          const status = await get(agent, leader.url + route);
          (times.get(route) as number[]).push(performance.now() - t0);
          if (status !== 200) failures.push(`${route}: ${status}`);
        }
      }
      agent.destroy();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const requests = clients * rounds * ROUTES.length;
  console.log(`${clients} clients × ${rounds} rounds × ${ROUTES.length} routes = ${requests} requests in ${seconds.toFixed(1)} s (${Math.round(requests / seconds)} req/s), CPU ${((used.user + used.system) / 1000 / requests).toFixed(2)} ms/request`);
  if (failures.length > 0) console.log(`non-200 answers: ${failures.length} (first: ${failures[0]})`);
  console.log(`| route | alone p50 ms | ${clients} clients p50 ms | p99 ms | max ms |`);
  console.log("|---|---|---|---|---|");
  for (const [route, list] of times) {
    list.sort((a, b) => a - b);
    console.log(`| \`${route.replace(exp, "<exp>")}\` | ${(alone.get(route) ?? 0).toFixed(1)} | ${percentile(list, 50).toFixed(1)} | ${percentile(list, 99).toFixed(1)} | ${list[list.length - 1].toFixed(1)} |`);
  }
  await leader.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
