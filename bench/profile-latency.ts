/**
 * How late profile actions reach units on the real clock: 50 simulated units (the recording fake
 * cluster, answering in-process), a `common` block updating every unit's stirring every second
 * for 30 s, plus a start and a stop. Lateness = arrival time of each request − the action's due
 * time. The original polls every 250 ms and blocks on each request in turn.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/profile-latency.js [units] [seconds]
 */
import type { Logger } from "../src/jobs/logger";
import { ProfileExecutor } from "../src/profiles/executor";
import { FakeCluster } from "../src/profiles/fake-cluster";
import { HttpClusterClient } from "../src/profiles/http-cluster-client";
import { validateProfileText } from "../src/profiles/validate";
import { RealClock } from "../src/util/clock";

const silent: Logger = { log() {}, debug() {}, info() {}, notice() {}, warning() {}, error() {}, critical() {} };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const units = Number(process.argv[2] ?? 50);
  const seconds = Number(process.argv[3] ?? 30);
  const profileText = `
version: "1.0"
experiment_profile_name: latency
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 1s, options: {target_rpm: 400.0}}
        - type: repeat
          t: 2s
          every: 1s
          max_time: ${seconds}s
          actions:
            - {type: update, t: 0s, options: {target_rpm: 500.0}}
        - {type: stop, t: ${seconds + 3}s}
`;
  const v = validateProfileText(profileText);
  if (!v.profile) throw new Error(JSON.stringify(v.diagnostics));
  const clock = new RealClock();
  const workers: Record<string, { experiment: string }> = {};
  for (let i = 1; i <= units; i++) workers[`unit${String(i).padStart(2, "0")}`] = { experiment: "e" };
  const fake = new FakeCluster({ workers, clock, startStyle: "immediate" });
  const cluster = new HttpClusterClient({
    leaderBaseUrl: fake.leaderBaseUrl(),
    unitBaseUrl: (u) => fake.unitBaseUrl(u),
    fetch: fake.fetch,
    clock,
  });
  const executor = new ProfileExecutor({
    profile: v.profile,
    profileFilename: "latency.yaml",
    experiment: "e",
    jobKey: "experiment_profile/1",
    cluster,
    clock,
    logger: silent,
    dryRun: false,
  });
  let start = 0;
  const finished = executor.run();
  // The executor fixes its start time as it begins; read it back rather than guessing.
  await new Promise((r) => setImmediate(r));
  start = clock.now() - executor.progress().elapsedMs;
  await finished;
  // Every action is due on a whole second after the start; a request belongs to the second it is nearest to.
  const lateness = fake.requests
    .filter((r) => r.host !== "leader" || r.url.includes("/jobs/"))
    .map((r) => {
      const offset = r.atMs - start;
      return offset - Math.floor(offset / 1000) * 1000;
    })
    .sort((a, b) => a - b);
  console.log(`units: ${units}, requests to units: ${lateness.length}, node ${process.version}`);
  console.log(`lateness p50: ${percentile(lateness, 50).toFixed(1)} ms`);
  console.log(`lateness p99: ${percentile(lateness, 99).toFixed(1)} ms`);
  console.log(`lateness max: ${lateness[lateness.length - 1].toFixed(1)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
