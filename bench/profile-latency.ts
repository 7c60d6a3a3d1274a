/**
 * How late profile actions fire on the real clock: 50 simulated units (the recording fake cluster,
 * answering in-process), a `common` block that starts stirring on every unit, updates it every
 * second for N seconds, then stops it; so every second 50 actions fall due at the same instant.
 *
 * Lateness = the time the executor hands an action's request to the cluster client − the action's
 * due time (start + its `t`). Written as explicit actions (not a `repeat`), so every due time is
 * known from the file: a repeat re-schedules from the moment its callback actually ran, as the
 * original does, so measuring its children against a fixed grid would count that drift as lateness.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/profile-latency.js [units] [seconds] [--journal]
 *   --journal: journal the run in a SQLite file, as `pio run profile` does.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Logger } from "../src/jobs/logger";
import type { ClusterClient } from "../src/profiles/cluster-client";
import { ProfileExecutor } from "../src/profiles/executor";
import { FakeCluster } from "../src/profiles/fake-cluster";
import { HttpClusterClient } from "../src/profiles/http-cluster-client";
import { JournalStore } from "../src/profiles/journal";
import { validateProfileText } from "../src/profiles/validate";
import { RealClock } from "../src/util/clock";

const silent: Logger = { log() {}, debug() {}, info() {}, notice() {}, warning() {}, error() {}, critical() {} };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Seconds after the start at which the action that sends `what` is due. */
type Dispatch = { offsetS: number; atMs: number };

/** The executor's cluster client, timestamping each action request as it is handed over. */
function timestamping(inner: ClusterClient, clock: RealClock, out: Dispatch[], seconds: number): ClusterClient {
  return {
    activeWorkersInExperiment: (e) => inner.activeWorkersInExperiment(e),
    assignedExperiment: (u) => inner.assignedExperiment(u),
    workerInfo: (u) => inner.workerInfo(u),
    isJobRunning: (u, j) => inner.isJobRunning(u, j),
    stopJobsFromSource: (u, e, s) => inner.stopJobsFromSource(u, e, s),
    postUnitLog: (u, e, b) => inner.postUnitLog(u, e, b),
    setUnitLabel: (e, u, l) => inner.setUnitLabel(e, u, l),
    addressOf: (u) => inner.addressOf(u),
    startJob(u, j, b) {
      out.push({ offsetS: 1, atMs: clock.now() });
      return inner.startJob(u, j, b);
    },
    updateJobSettings(u, e, j, settings) {
      out.push({ offsetS: 1 + Number(settings.target_rpm), atMs: clock.now() });
      return inner.updateJobSettings(u, e, j, settings);
    },
    stopJob(u, e, j) {
      out.push({ offsetS: seconds + 2, atMs: clock.now() });
      return inner.stopJob(u, e, j);
    },
  };
}

function profileText(seconds: number): string {
  const lines = ['version: "1.0"', "experiment_profile_name: latency", "common:", "  jobs:", "    stirring:", "      actions:"];
  lines.push("        - {type: start, t: 1s, options: {target_rpm: 400.0}}");
  for (let k = 1; k <= seconds; k++) lines.push(`        - {type: update, t: ${1 + k}s, options: {target_rpm: ${k}}}`);
  lines.push(`        - {type: stop, t: ${seconds + 2}s}`);
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<void> {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const units = Number(positional[0] ?? 50);
  const seconds = Number(positional[1] ?? 30);
  const journaled = process.argv.includes("--journal");
  const text = profileText(seconds);
  const v = validateProfileText(text);
  if (!v.profile) throw new Error(JSON.stringify(v.diagnostics));
  const clock = new RealClock();
  const workers: Record<string, { experiment: string }> = {};
  for (let i = 1; i <= units; i++) workers[`unit${String(i).padStart(2, "0")}`] = { experiment: "e" };
  const fake = new FakeCluster({ workers, clock, startStyle: "immediate" });
  const http = new HttpClusterClient({ leaderBaseUrl: fake.leaderBaseUrl(), unitBaseUrl: (u) => fake.unitBaseUrl(u), fetch: fake.fetch, clock });
  const dispatches: Dispatch[] = [];
  const dir = journaled ? fs.mkdtempSync(path.join(os.tmpdir(), "profile-latency-")) : undefined;
  const store = dir ? new JournalStore(path.join(dir, "profile_runs.sqlite")) : undefined;
  const journal = store?.createRun({ profileText: text, profileFilename: "latency.yaml", experiment: "e", startMs: clock.now(), dryRun: false, jobKey: "experiment_profile/1" });
  const executor = new ProfileExecutor({
    profile: v.profile,
    profileFilename: "latency.yaml",
    experiment: "e",
    jobKey: "experiment_profile/1",
    cluster: timestamping(http, clock, dispatches, seconds),
    clock,
    logger: silent,
    dryRun: false,
    ...(journal ? { journal } : {}),
  });
  const finished = executor.run();
  // The executor fixes its start time as it begins; read it back rather than guessing.
  await new Promise((r) => setImmediate(r));
  const start = clock.now() - executor.progress().elapsedMs;
  await finished;
  store?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const late = (d: Dispatch) => d.atMs - (start + d.offsetS * 1000);
  const lateness = dispatches.map(late).sort((a, b) => a - b);
  // The first instant (the starts) also pays for loading and compiling the code paths; shown apart.
  const warm = dispatches.filter((d) => d.offsetS > 1).map(late).sort((a, b) => a - b);
  const first = dispatches.filter((d) => d.offsetS === 1).map(late);
  console.log(`units: ${units}, actions: ${lateness.length}, journal: ${journaled ? "SQLite" : "none"}, node ${process.version}`);
  console.log(`lateness p50: ${percentile(lateness, 50).toFixed(1)} ms`);
  console.log(`lateness p99: ${percentile(lateness, 99).toFixed(1)} ms`);
  console.log(`lateness max: ${lateness[lateness.length - 1].toFixed(1)} ms`);
  console.log(`first instant max: ${Math.max(...first).toFixed(1)} ms; after it: p50 ${percentile(warm, 50).toFixed(1)} ms, p99 ${percentile(warm, 99).toFixed(1)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
