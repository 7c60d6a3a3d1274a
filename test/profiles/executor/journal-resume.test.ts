/**
 * Durability: a run is dropped mid-way (as a crash would), a new runner continues it from the
 * SQLite journal, and the requests of both together are exactly those of an uninterrupted run.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JournalStore } from "../../../src/profiles/journal";
import { resumeProfileRun, startProfileRun } from "../../../src/profiles/runner";
import { FakeCluster } from "../../../src/profiles/fake-cluster";
import { HttpClusterClient } from "../../../src/profiles/http-cluster-client";
import { VirtualClock } from "../../../src/util/clock";
import { LogSpy, START_MS } from "./harness";

const PROFILE = `
version: "1.0"
experiment_profile_name: durable
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s, options: {target_rpm: 300}}
        - type: repeat
          t: 10m
          every: 10m
          max_time: 2h
          actions:
            - {type: update, t: 0s, options: {target_rpm: "\${{ 300 + action_count }}"}}
            - {type: log, t: 1m, options: {message: "tick \${{ action_count }}"}}
        - {type: stop, t: 3h}
pioreactors:
  unit1:
    jobs:
      od_reading:
        actions:
          - {type: start, t: 5m}
          - {type: stop, t: 2.5h}
`;

const WORKERS = () => ({ leader: { experiment: "exp1" }, unit1: { experiment: "exp1" } });

function rig(clock: VirtualClock, fake: FakeCluster) {
  const cluster = new HttpClusterClient({ leaderBaseUrl: fake.leaderBaseUrl(), unitBaseUrl: (u) => fake.unitBaseUrl(u), fetch: fake.fetch, clock });
  return { cluster, clock, logger: new LogSpy(clock), experiment: "exp1", jobKey: "experiment_profile/1", random: () => 0.5 };
}

/** Commands with the parts that legitimately differ between runs (log timestamps) removed. */
function commands(fake: FakeCluster): string[] {
  return fake.commands().map((c) => c.replace(/"timestamp":"[^"]*",/, ""));
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "profile-journal-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function reference(): Promise<string[]> {
  const clock = new VirtualClock(START_MS);
  const fake = new FakeCluster({ workers: WORKERS(), clock });
  await startProfileRun({ ...rig(clock, fake), text: PROFILE, filename: "durable.yaml" });
  return commands(fake);
}

async function crashAt(crashAfterMs: number, store: JournalStore) {
  const clock = new VirtualClock(START_MS);
  const fake = new FakeCluster({ workers: WORKERS(), clock });
  const outcome = await startProfileRun({
    ...rig(clock, fake),
    text: PROFILE,
    filename: "durable.yaml",
    store,
    onExecutor: (ex) => clock.setTimeout(() => ex.abandon(), crashAfterMs),
  });
  expect(outcome.status).toBe("abandoned");
  return { clock, fake };
}

test.each([
  ["in the middle of the repeat", 45 * 60_000],
  ["right after the first start", 1],
  ["after the repeat ended", 2.7 * 3_600_000],
])("crash %s, resume with catch-up: nothing repeated, nothing lost", async (_name, crashAfterMs) => {
  const expected = await reference();
  const file = path.join(dir, "profile_runs.sqlite");
  const first = await crashAt(crashAfterMs, new JournalStore(file));
  const before = commands(first.fake);

  // A new process: new store handle, new clock (10 minutes later), fresh fake cluster state but same recording list.
  const store = new JournalStore(file);
  const clock = new VirtualClock(first.clock.now() + 10 * 60_000);
  const fake = new FakeCluster({ workers: WORKERS(), clock });
  fake.running.push(...first.fake.running);
  const logger = new LogSpy(clock);
  const outcome = await resumeProfileRun({ ...rig(clock, fake), logger, store, policy: "catch-up" });
  expect(outcome.status).toBe("finished");
  const after = commands(fake);
  expect([...before, ...after].sort()).toEqual([...expected].sort());
  expect(logger.text()[0]).toMatch(/^NOTICE Resuming profile durable \(run 1\) after a gap of/);
  expect(store.unfinishedRuns()).toEqual([]);
  store.close();
});

test("skip policy drops missed basic actions and says so; repeats continue", async () => {
  const file = path.join(dir, "profile_runs.sqlite");
  const first = await crashAt(45 * 60_000, new JournalStore(file));
  const store = new JournalStore(file);
  const clock = new VirtualClock(first.clock.now() + 2 * 3_600_000); // back after the repeat would have ended
  const fake = new FakeCluster({ workers: WORKERS(), clock });
  const logger = new LogSpy(clock);
  await resumeProfileRun({ ...rig(clock, fake), logger, store, policy: "skip" });
  const skipped = logger.text().filter((l) => l.startsWith("INFO Skipping missed"));
  expect(skipped.length).toBeGreaterThan(0);
  expect(skipped[0]).toMatch(/^INFO Skipping missed `(update|log|stop)` of (stirring|od_reading) on (leader|unit1)/);
  // The two 3 h stops were not missed (due after the resume) and are sent.
  expect(commands(fake).filter((c) => c.includes("/jobs/stop/job_name/stirring"))).toHaveLength(2);
  store.close();
});

test("abort policy ends the run without sending anything", async () => {
  const file = path.join(dir, "profile_runs.sqlite");
  const first = await crashAt(45 * 60_000, new JournalStore(file));
  const store = new JournalStore(file);
  const clock = new VirtualClock(first.clock.now() + 3_600_000);
  const fake = new FakeCluster({ workers: WORKERS(), clock });
  const logger = new LogSpy(clock);
  const outcome = await resumeProfileRun({ ...rig(clock, fake), logger, store, policy: "abort" });
  expect(outcome.status).toBe("aborted");
  expect(fake.commands()).toEqual([]);
  expect(logger.text().at(-1)).toMatch(/^ERROR Aborting resume: \d+ action\(s\) missed their time\.$/);
  expect(store.run(1)?.status).toBe("aborted");
  store.close();
});

test("an action in flight at the crash is not repeated", async () => {
  const file = path.join(dir, "profile_runs.sqlite");
  const clock = new VirtualClock(START_MS);
  const workers = { leader: { experiment: "exp1" }, unit1: { experiment: "exp1", hang: false } };
  const fake = new FakeCluster({ workers, clock });
  // unit1 stops answering just before its od_reading start at 5 min: that request stays "dispatched".
  clock.setTimeout(() => {
    workers.unit1.hang = true;
  }, 4 * 60_000);
  await startProfileRun({
    ...rig(clock, fake),
    text: PROFILE,
    filename: "durable.yaml",
    store: new JournalStore(file),
    onExecutor: (ex) => clock.setTimeout(() => ex.abandon(), 6 * 60_000),
  });
  const store = new JournalStore(file);
  const clock2 = new VirtualClock(clock.now());
  const fake2 = new FakeCluster({ workers: WORKERS(), clock: clock2 });
  const logger = new LogSpy(clock2);
  await resumeProfileRun({ ...rig(clock2, fake2), logger, store, policy: "catch-up" });
  expect(logger.text().filter((l) => l.startsWith("WARNING Not repeating"))).toEqual([
    "WARNING Not repeating `start` of od_reading on unit1 [unit1/od_reading/0@unit1]: it was being sent when the run stopped, and may have reached unit1.",
  ]);
  expect(fake2.commands().filter((c) => c.includes("run/job_name/od_reading"))).toEqual([]);
  store.close();
});
