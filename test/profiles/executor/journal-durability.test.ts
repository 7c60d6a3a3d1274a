/**
 * The journal's cheap durability (journal.ts): actions are armed on disk a moment before they fall
 * due, and the run's boot id decides what an armed action means after a crash. Same boot (the
 * process was killed): it was never sent, so it runs. New boot (power cut): it may have been sent,
 * so it is not repeated and the log says so. Real SQLite files; the OS boot id is injected.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { ARM_AHEAD_MS } from "../../../src/profiles/executor";
import { FakeCluster } from "../../../src/profiles/fake-cluster";
import { HttpClusterClient } from "../../../src/profiles/http-cluster-client";
import { JournalStore } from "../../../src/profiles/journal";
import { resumeProfileRun, startProfileRun } from "../../../src/profiles/runner";
import { VirtualClock } from "../../../src/util/clock";
import { LogSpy, START_MS } from "./harness";

const PROFILE = `
version: "1.0"
experiment_profile_name: armed
pioreactors:
  unit1:
    jobs:
      stirring:
        actions:
          - {type: start, t: 0s}
          - {type: update, t: 10s, options: {target_rpm: 500}}
          - {type: log, t: 20s, options: {message: done}}
`;

const workers = () => ({ unit1: { experiment: "exp1" } });

function rig(clock: VirtualClock, fake: FakeCluster) {
  const cluster = new HttpClusterClient({ leaderBaseUrl: fake.leaderBaseUrl(), unitBaseUrl: (u) => fake.unitBaseUrl(u), fetch: fake.fetch, clock });
  return { cluster, clock, logger: new LogSpy(clock), experiment: "exp1", jobKey: "experiment_profile/1", random: () => 0.5 };
}

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "profile-durability-"));
  file = path.join(dir, "profile_runs.sqlite");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs until just after the update (due at 10 s) was armed and before it fell due, then drops the run as a crash would. */
async function crashWhileArmed(): Promise<FakeCluster> {
  const clock = new VirtualClock(START_MS);
  const fake = new FakeCluster({ workers: workers(), clock });
  const store = new JournalStore(file, { bootId: "boot-A" });
  const outcome = await startProfileRun({
    ...rig(clock, fake),
    text: PROFILE,
    filename: "armed.yaml",
    store,
    onExecutor: (ex) => clock.setTimeout(() => ex.abandon(), 10_000 - ARM_AHEAD_MS / 2),
  });
  expect(outcome.status).toBe("abandoned");
  const statuses = store.tasks(1).map((t) => `${t.key} ${t.status}`);
  expect(statuses).toEqual(["unit1/stirring/0@unit1 done", "unit1/stirring/1@unit1 armed", "unit1/stirring/2@unit1 pending"]);
  store.close();
  return fake;
}

test("after a killed process (same boot), an armed action was never sent and runs on resume", async () => {
  const first = await crashWhileArmed();
  expect(first.commands().filter((c) => c.includes("/jobs/update/"))).toEqual([]);
  const store = new JournalStore(file, { bootId: "boot-A" });
  const clock = new VirtualClock(START_MS + 10_000 - ARM_AHEAD_MS / 2);
  const fake = new FakeCluster({ workers: workers(), clock });
  fake.running.push(...first.running); // the unit still runs the stirring the first process started
  const logger = new LogSpy(clock);
  const outcome = await resumeProfileRun({ ...rig(clock, fake), logger, store, policy: "catch-up" });
  expect(outcome.status).toBe("finished");
  expect(fake.commands().filter((c) => !c.startsWith("GET"))).toEqual([
    'PATCH /api/workers/unit1/jobs/update/job_name/stirring/experiments/exp1 {"settings":{"target_rpm":500}}',
    expect.stringMatching(/^POST \/api\/workers\/unit1\/experiments\/exp1\/logs \{"message":"done",/),
  ]);
  expect(logger.text().filter((l) => l.startsWith("WARNING"))).toEqual([]);
  store.close();
});

test("after a power cut (new boot), an armed action may have been sent: not repeated, and named in the log", async () => {
  await crashWhileArmed();
  const store = new JournalStore(file, { bootId: "boot-B" });
  const clock = new VirtualClock(START_MS + 60_000);
  const fake = new FakeCluster({ workers: workers(), clock });
  const logger = new LogSpy(clock);
  await resumeProfileRun({ ...rig(clock, fake), logger, store, policy: "catch-up" });
  expect(fake.commands().filter((c) => c.includes("/jobs/update/"))).toEqual([]);
  expect(logger.text().filter((l) => l.startsWith("WARNING"))).toEqual([
    "WARNING Not repeating `update` of stirring on unit1 [unit1/stirring/1@unit1]: it was being sent when the run stopped, and may have reached unit1.",
  ]);
  expect(fake.commands().filter((c) => c.includes("/logs"))).toHaveLength(1);
  store.close();
});

test("a journal without boot ids (written before they were kept) gains the column and records the boot of new runs", async () => {
  const old = new Database(file);
  old.exec(
    "CREATE TABLE profile_runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, profile_text TEXT NOT NULL, profile_filename TEXT NOT NULL, experiment TEXT NOT NULL, start_ms REAL NOT NULL, dry_run INTEGER NOT NULL, job_key TEXT NOT NULL, status TEXT NOT NULL, action_count INTEGER NOT NULL DEFAULT 0, updated_ms REAL)",
  );
  old.close();
  const store = new JournalStore(file, { bootId: "boot-A" });
  const run = store.createRun({ profileText: PROFILE, profileFilename: "armed.yaml", experiment: "exp1", startMs: START_MS, dryRun: false, jobKey: "experiment_profile/1" });
  expect(store.run(run.runId)?.bootId).toBe("boot-A");
  store.close();
});

test("markDispatched resolves only once the mark can be read from another connection", async () => {
  const store = new JournalStore(file, { bootId: "boot-A" });
  const journal = store.createRun({ profileText: PROFILE, profileFilename: "armed.yaml", experiment: "exp1", startMs: START_MS, dryRun: false, jobKey: "experiment_profile/1" });
  const task = { group: "g", unit: "unit1", job: "stirring", source: "unit1", path: [0], dueMs: START_MS, status: "pending" as const, state: null, seq: 0 };
  journal.addTasks([
    { ...task, key: "a" },
    { ...task, key: "b" },
  ]);
  const reader = new Database(file, { readonly: true });
  const statusOf = (key: string) => (reader.prepare("SELECT status FROM profile_run_tasks WHERE key = ?").get(key) as { status: string }).status;
  const both = Promise.all([journal.markDispatched("a"), journal.markDispatched("b", false)]);
  expect([statusOf("a"), statusOf("b")]).toEqual(["pending", "pending"]);
  await both;
  expect([statusOf("a"), statusOf("b")]).toEqual(["dispatched", "dispatched"]);
  reader.close();
  store.close();
});

test("an action waiting behind a unit that does not answer is not armed, so even a power cut cannot lose it", async () => {
  const clock = new VirtualClock(START_MS);
  const slow = { unit1: { experiment: "exp1", hang: true } };
  const fake = new FakeCluster({ workers: slow, clock });
  const store = new JournalStore(file, { bootId: "boot-A" });
  await startProfileRun({
    ...rig(clock, fake),
    text: PROFILE,
    filename: "armed.yaml",
    store,
    onExecutor: (ex) => clock.setTimeout(() => ex.abandon(), 10_000 - ARM_AHEAD_MS / 2),
  });
  // The start hangs: unit1's queue is busy, so the update due at 10 s is still only pending.
  expect(store.tasks(1).map((t) => t.status)).toEqual(["dispatched", "pending", "pending"]);
  store.close();

  const after = new JournalStore(file, { bootId: "boot-B" });
  const clock2 = new VirtualClock(START_MS + 60_000);
  const fake2 = new FakeCluster({ workers: workers(), clock: clock2 });
  fake2.running.push({ unit: "unit1", job: "stirring", source: "experiment_profile/1", experiment: "exp1" });
  const logger = new LogSpy(clock2);
  await resumeProfileRun({ ...rig(clock2, fake2), logger, store: after, policy: "catch-up" });
  expect(fake2.commands().filter((c) => c.includes("/jobs/update/"))).toHaveLength(1);
  expect(logger.text().filter((l) => l.startsWith("WARNING"))).toEqual([
    "WARNING Not repeating `start` of stirring on unit1 [unit1/stirring/0@unit1]: it was being sent when the run stopped, and may have reached unit1.",
  ]);
  after.close();
});
