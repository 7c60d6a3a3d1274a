/**
 * The two profile captures of the original (wire/07_experiment_profile.txt and
 * wire/10_profile_two_units.txt), replayed with the recording fake cluster: the requests, their
 * bodies and order, and the profile's own log lines.
 */
import { profileFrom, setUp, START_MS } from "./harness";

const STIRRING_DEMO = `
version: "1.0"
experiment_profile_name: pyref stirring demo
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - type: start
            t: 0s
            options:
              target_rpm: 400.0
          - type: log
            t: 5s
            options:
              message: "profile log action: stirring should be at 400 RPM"
              level: info
          - type: update
            t: 10s
            options:
              target_rpm: 800.0
          - type: pause
            t: 15s
          - type: resume
            t: 18s
          - type: stop
            t: 25s
`;

const TWO_UNITS = `
version: "1.0"
experiment_profile_name: pyref two-unit demo
common:
  jobs:
    stirring:
      actions:
        - type: start
          t: 0s
          options:
            target_rpm: 350.0
        - type: update
          t: 8s
          options:
            target_rpm: 450.0
        - type: stop
          t: 20s
pioreactors:
  unit1:
    jobs:
      od_reading:
        actions:
          - type: start
            t: 0s
          - type: stop
            t: 18s
`;

const ENV_LEADER = '{"JOB_SOURCE":"experiment_profile/1","EXPERIMENT":"exp1","HOSTNAME":"leader","TESTING":"0","MODEL_NAME":"pioreactor_40ml","MODEL_VERSION":"1.5","ACTIVE":"1"}';

describe("capture 07: one unit, every basic action", () => {
  test("requests, bodies and order", async () => {
    const { fake, log, executor } = setUp({ leader: { experiment: "exp1" } });
    const outcome = await executor(profileFrom(STIRRING_DEMO), { profileFilename: "pyref_stirring.yaml" }).run();
    expect(outcome).toEqual({ status: "finished", actionCount: 6, notStarted: 0, waitingWhens: 0 });
    const commands = fake.requests
      .filter((r) => r.method !== "GET")
      .map((r) => [Math.round((r.atMs - START_MS) / 1000), `${r.method} ${r.host} ${new URL(r.url).pathname}`, r.body]);
    expect(commands).toEqual([
      [0, "PATCH leader /unit_api/jobs/run/job_name/stirring", `{"options":{"target_rpm":400.0},"env":${ENV_LEADER},"args":[],"config_overrides":[]}`],
      [5, "POST leader /api/workers/leader/experiments/exp1/logs",
        '{"message":"profile log action: stirring should be at 400 RPM","timestamp":"2026-11-21T05:47:04.208Z","level":"INFO","source":"experiment_profile/1","task":"experiment_profile/1","source_":"app"}'],
      [10, "PATCH leader /api/workers/leader/jobs/update/job_name/stirring/experiments/exp1", '{"settings":{"target_rpm":800.0}}'],
      [15, "PATCH leader /api/workers/leader/jobs/update/job_name/stirring/experiments/exp1", '{"settings":{"$state":"sleeping"}}'],
      [18, "PATCH leader /api/workers/leader/jobs/update/job_name/stirring/experiments/exp1", '{"settings":{"$state":"ready"}}'],
      [25, "PATCH leader /api/workers/leader/jobs/stop/job_name/stirring/experiments/exp1", undefined],
    ]);
    expect(log.text()).toEqual([
      "NOTICE Executing profile pyref stirring demo, sourced from pyref_stirring.yaml.",
      "DEBUG Starting execution of actions.",
      "DEBUG 1. Starting stirring on leader with options {'target_rpm': 400.0}, args [], and overrides {}.",
      "DEBUG 2. Logging message `profile log action: stirring should be at 400 RPM`",
      "DEBUG 3. Updating target_rpm to 800.0 in stirring on leader.",
      "DEBUG 4. Pausing stirring on leader.",
      "DEBUG 5. Resuming stirring on leader.",
      "DEBUG 6. Stopping stirring on leader.",
      "INFO Finished executing profile pyref stirring demo.",
    ]);
  });

  test("dry run sends only the log post and prints Dry-run lines", async () => {
    const { fake, log, executor } = setUp({ leader: { experiment: "exp1" } });
    await executor(profileFrom(STIRRING_DEMO), { dryRun: true, profileFilename: "pyref_stirring.yaml" }).run();
    expect(fake.commands().map((c) => c.split(" ").slice(0, 2).join(" "))).toEqual(["POST /api/workers/leader/experiments/exp1/logs"]);
    expect(log.text()).toEqual([
      "NOTICE Executing DRY-RUN of profile pyref stirring demo, sourced from pyref_stirring.yaml.",
      "DEBUG Starting execution of actions.",
      "INFO 1. Dry-run: Starting stirring on leader with options {'target_rpm': 400.0} and args [], and overrides {}.",
      "DEBUG 2. Logging message `profile log action: stirring should be at 400 RPM`",
      "INFO 3. Dry-run: Updating target_rpm to 800.0 in stirring on leader.",
      "INFO 4. Dry-run: Pausing stirring on leader.",
      "INFO 5. Dry-run: Resuming stirring on leader.",
      "INFO 6. Dry-run: Stopping stirring on leader.",
      "INFO Finished executing DRY-RUN of profile pyref stirring demo.",
    ]);
  });
});

describe("capture 10: common block over two units plus a unit block", () => {
  test("requests in the original's order and counts", async () => {
    const { fake, log, executor } = setUp({ leader: { experiment: "exp1" }, unit1: { experiment: "exp1" } });
    const outcome = await executor(profileFrom(TWO_UNITS), { profileFilename: "pyref_two_units.yaml" }).run();
    expect(outcome.actionCount).toBe(8);
    expect(fake.commands().map((c) => c.replace(/"env":\{[^}]*\}/, '"env":{…}'))).toEqual([
      'PATCH leader/unit_api/jobs/run/job_name/stirring {"options":{"target_rpm":350.0},"env":{…},"args":[],"config_overrides":[]}',
      'PATCH unit1/unit_api/jobs/run/job_name/stirring {"options":{"target_rpm":350.0},"env":{…},"args":[],"config_overrides":[]}',
      'PATCH unit1/unit_api/jobs/run/job_name/od_reading {"options":{},"env":{…},"args":[],"config_overrides":[]}',
      'PATCH /api/workers/leader/jobs/update/job_name/stirring/experiments/exp1 {"settings":{"target_rpm":450.0}}',
      'PATCH /api/workers/unit1/jobs/update/job_name/stirring/experiments/exp1 {"settings":{"target_rpm":450.0}}',
      "PATCH /api/workers/unit1/jobs/stop/job_name/od_reading/experiments/exp1",
      "PATCH /api/workers/leader/jobs/stop/job_name/stirring/experiments/exp1",
      "PATCH /api/workers/unit1/jobs/stop/job_name/stirring/experiments/exp1",
    ]);
    expect(log.text().filter((l) => /^DEBUG \d/.test(l))).toEqual([
      "DEBUG 1. Starting stirring on leader with options {'target_rpm': 350.0}, args [], and overrides {}.",
      "DEBUG 2. Starting stirring on unit1 with options {'target_rpm': 350.0}, args [], and overrides {}.",
      "DEBUG 3. Starting od_reading on unit1 with options {}, args [], and overrides {}.",
      "DEBUG 4. Updating target_rpm to 450.0 in stirring on leader.",
      "DEBUG 5. Updating target_rpm to 450.0 in stirring on unit1.",
      "DEBUG 6. Stopping od_reading on unit1.",
      "DEBUG 7. Stopping stirring on leader.",
      "DEBUG 8. Stopping stirring on unit1.",
    ]);
    const unit1Start = fake.requests.find((r) => r.url.includes("unit1.local") && r.method === "PATCH");
    expect(JSON.parse(unit1Start?.body ?? "{}").env).toEqual({
      JOB_SOURCE: "experiment_profile/1",
      EXPERIMENT: "exp1",
      HOSTNAME: "unit1",
      TESTING: "0",
      MODEL_NAME: "pioreactor_40ml",
      MODEL_VERSION: "1.5",
      ACTIVE: "1",
    });
  });
});
