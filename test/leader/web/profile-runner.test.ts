/**
 * Profiles run inside the server (InProcessProfileRunner): started through `/unit_api` as the UI
 * does, requests arriving at a worker's (fake) `/unit_api`, stopped through `/unit_api/jobs/stop
 * {job_id}`, and resumed after a server restart without repeating what was already sent.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IniDocument } from "../../../src/config/ini";
import { LayeredConfig } from "../../../src/config/layered";
import { openCacheDatabase } from "../../../src/jobs/local-storage";
import { JobRegistry } from "../../../src/jobs/registry";
import { InProcessProfileRunner, resumeOnStartup, resumePolicyFromConfig } from "../../../src/leader/web/in-process-profiles";
import { HttpClusterClient } from "../../../src/profiles/http-cluster-client";
import { JournalStore } from "../../../src/profiles/journal";
import { RealClock } from "../../../src/util/clock";
import { type FakeUnit, startFakeUnit } from "./fake-unit";
import { type Harness, type ProfileRunnerWorld, startHarness } from "./harness";

const PROFILE = `version: "1.0"
experiment_profile_name: in-process test
metadata:
  author: test
pioreactors:
  unit1:
    jobs:
      stirring:
        actions:
          - {type: start, t: 0s, options: {target_rpm: 400.0}}
          - {type: update, t: 2s, options: {target_rpm: 600.0}}
          - {type: stop, t: 4s}
`;

const clock = new RealClock();

function runnerFactory(fake: FakeUnit, journal: JournalStore, logs: string[], keep: (r: InProcessProfileRunner) => void) {
  return (w: ProfileRunnerWorld) => {
    const runner = new InProcessProfileRunner({
      unit: "leader",
      pubsub: w.pubsub,
      registry: w.registry,
      journal,
      cluster: new HttpClusterClient({ leaderBaseUrl: w.url, unitBaseUrl: (u) => (u === "unit1" ? fake.url : w.url), fetch, clock }),
      clock,
      dotPioreactor: w.dot,
      testing: false,
      log: (l) => logs.push(l),
    });
    keep(runner);
    return runner;
  };
}

async function setUpCluster(h: Harness): Promise<string> {
  await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1" });
  await h.request("POST", "/api/experiments", { experiment: "exp1" });
  await h.request("PUT", "/api/experiments/exp1/workers", { pioreactor_unit: "unit1" });
  const file = path.join(h.dot, "experiment_profiles", "in-process.yaml");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, PROFILE);
  return file;
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("in-process profile runner", () => {
  let fake: FakeUnit;
  let tmp: string;
  beforeEach(async () => {
    fake = await startFakeUnit("unit1");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pio-profiles-"));
  });
  afterEach(async () => {
    await fake.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("start from the UI's route, requests reach the unit, stop by job id", async () => {
    const journal = new JournalStore(path.join(tmp, "journal.sqlite"));
    const logs: string[] = [];
    let runner!: InProcessProfileRunner;
    const h = await startHarness({}, undefined, { profileRunner: runnerFactory(fake, journal, logs, (r) => (runner = r)) });
    try {
      const file = await setUpCluster(h);
      const r = await h.request("PATCH", "/unit_api/jobs/run/job_name/experiment_profile", { args: ["execute", file, "exp1"], options: {} });
      expect(r.status).toBe(202);
      const [start] = await fake.waitFor(/^\/unit_api\/jobs\/run\/job_name\/stirring$/);
      expect(start.method).toBe("PATCH");
      expect(start.body).toMatchObject({ options: { target_rpm: 400.0 }, env: { EXPERIMENT: "exp1" } });
      expect(h.launched).toEqual([]); // no `pio run` child

      const running = await h.request("GET", "/api/experiments/exp1/experiment_profiles/running");
      expect(running.json).toHaveLength(1);
      const jobId = running.json[0].job_id;
      expect(running.json[0].settings).toMatchObject({ experiment_profile_name: "in-process test", profile_filename: "in-process.yaml" });

      const stop = await h.request("PATCH", "/unit_api/jobs/stop", { job_id: jobId });
      expect(stop.status).toBe(202);
      await runner.whenEnded(jobId);
      expect(h.registry.job(jobId)?.is_running).toBe(0);
      const states = await h.waitForMessages(new RegExp(`^pioreactor/leader/exp1/experiment_profile/${jobId}/\\$state$`), 3);
      expect(states.map((m) => m.payload.toString())).toEqual(["init", "ready", "disconnected"]);
      // Stopped before t=2s: the update was never sent, and the run is closed in the journal.
      expect(h.messages.filter((m) => m.topic === "pioreactor/unit1/exp1/stirring/target_rpm/set")).toEqual([]);
      expect(journal.unfinishedRuns()).toEqual([]);

      // A profile outside $DOT_PIOREACTOR or an invalid one fails the task and registers nothing.
      await new Promise((res) => setTimeout(res, 1100)); // the per-job debounce
      const outside = await h.request("PATCH", "/unit_api/jobs/run/job_name/experiment_profile", { args: ["execute", "/etc/passwd", "exp1"], options: {} });
      const failed = await (async () => {
        for (let i = 0; i < 100; i++) {
          const t = await h.request("GET", outside.json.result_url_path);
          if (t.status === 200) return t.json;
          await new Promise((res) => setTimeout(res, 20));
        }
      })();
      expect(failed.status).toBe("failed");
      expect(h.registry.runningJobs()).toEqual([]);
    } finally {
      await runner.close();
      await h.close();
      journal.close();
    }
  });

  test("a server restart mid-run resumes the journaled run without repeating actions", async () => {
    const registry = new JobRegistry(openCacheDatabase(path.join(tmp, "registry.sqlite")));
    const journalFile = path.join(tmp, "journal.sqlite");
    const logs: string[] = [];
    let first!: InProcessProfileRunner;
    const journalA = new JournalStore(journalFile);
    const a = await startHarness({ registry }, undefined, { profileRunner: runnerFactory(fake, journalA, logs, (r) => (first = r)) });
    const file = await setUpCluster(a);
    await a.request("PATCH", "/unit_api/jobs/run/job_name/experiment_profile", { args: ["execute", file, "exp1"], options: {} });
    await fake.waitFor(/^\/unit_api\/jobs\/run\/job_name\/stirring$/);
    // The server goes down before t=2s.
    await first.close();
    await a.close(true);
    journalA.close();
    expect(new JournalStore(journalFile).unfinishedRuns()).toHaveLength(1);

    const journalB = new JournalStore(journalFile);
    let second!: InProcessProfileRunner;
    const b = await startHarness({ registry }, undefined, { dir: a.dir, profileRunner: runnerFactory(fake, journalB, logs, (r) => (second = r)) });
    try {
      const decisions = await resumeOnStartup(second, b.context.config(), (l) => logs.push(l));
      expect(decisions).toEqual([{ runId: expect.any(Number), action: "resumed" }]);
      expect(logs.some((l) => /^Resuming profile run \d+ \(in-process\.yaml, exp1\) as job \d+ with policy catch-up\.$/.test(l))).toBe(true);
      const update = await b.waitForMessages(/^pioreactor\/unit1\/exp1\/stirring\/target_rpm\/set$/);
      expect(update.map((m) => m.payload.toString())).toEqual(["600.0"]);
      await until(() => journalB.unfinishedRuns().length === 0, 6000);
      const stops = await b.waitForMessages(/^pioreactor\/unit1\/exp1\/stirring\/\$state\/set$/);
      expect(stops.map((m) => m.payload.toString())).toEqual(["disconnected"]);
      // Exactly one start reached the unit across both servers.
      expect(fake.requests.filter((q) => q.path === "/unit_api/jobs/run/job_name/stirring")).toHaveLength(1);
      // The registry row closes once the job's clean-up settings are published, just after the journal.
      await until(() => registry.runningJobs().length === 0);
    } finally {
      await second.close();
      await b.close();
      journalB.close();
    }
  }, 15000);

  test("resume policy comes from [experiment_profile] resume_policy; unknown values resume nothing", async () => {
    const cfg = (text: string) => LayeredConfig.fromDocuments(IniDocument.parse(text));
    expect(resumePolicyFromConfig(cfg(""))).toBe("catch-up");
    expect(resumePolicyFromConfig(cfg("[experiment_profile]\nresume_policy=skip\n"))).toBe("skip");
    const logs: string[] = [];
    const runner = { resumeInterrupted: jest.fn() } as unknown as InProcessProfileRunner;
    expect(await resumeOnStartup(runner, cfg("[experiment_profile]\nresume_policy=later\n"), (l) => logs.push(l))).toEqual([]);
    expect(runner.resumeInterrupted).not.toHaveBeenCalled();
    expect(logs[0]).toContain("resume_policy=later");
  });
});
