/** when/repeat/if semantics, early stop, the led_intensity rewrite and per-unit concurrency. */
import type { LookupPort } from "../../../src/profiles";
import { profileFrom, setUp, START_MS } from "./harness";

const at = (ms: number) => Math.round((ms - START_MS) / 1000);

describe("repeat", () => {
  test("every 10s with max 30s runs 3 iterations; unreachable child warned each time; Exiting before last children", async () => {
    const { fake, log, executor } = setUp({ leader: { experiment: "exp1" } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: rep
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - type: start
            t: 0s
          - type: repeat
            t: 1s
            every: 10s
            max_time: 30s
            actions:
              - type: update
                t: 0s
                options: {target_rpm: "\${{ 100 + action_count }}"}
              - type: log
                t: 11s
                options: {message: never}
`);
    const outcome = await executor(p).run();
    expect(outcome.status).toBe("finished");
    const updates = fake.requests.filter((r) => r.url.includes("/update/")).map((r) => [at(r.atMs), r.body]);
    expect(updates).toEqual([
      // action_count is incremented before the options are evaluated (the start was 1).
      [1, '{"settings":{"target_rpm":102.0}}'],
      [11, '{"settings":{"target_rpm":103.0}}'],
      [21, '{"settings":{"target_rpm":104.0}}'],
    ]);
    const warnings = log.text().filter((l) => l.startsWith("WARNING"));
    expect(warnings).toEqual(Array(3).fill("WARNING Action Log(message=never) start time is greater than the Repeat's cycle time, so it can't ever run. Skipping."));
    const texts = log.text();
    expect(texts.indexOf("DEBUG Exiting repeat loop as max time exceeded.")).toBeLessThan(texts.indexOf("DEBUG 4. Updating target_rpm to 104.0 in stirring on leader."));
  });

  test("while is evaluated every iteration, if only on the first", async () => {
    const { log, executor } = setUp({ leader: { experiment: "exp1" } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: rep
inputs: {limit: 3}
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - type: repeat
            t: 0s
            every: 1m
            if: "action_count == 0"
            while: "action_count < limit"
            actions:
              - type: log
                t: 0s
                options: {message: "n=\${{ action_count }}"}
`);
    await executor(p).run();
    const lines = log.text();
    expect(lines.filter((l) => l.includes("Logging message"))).toEqual([
      "DEBUG 1. Logging message `n=1`",
      "DEBUG 2. Logging message `n=2`",
      "DEBUG 3. Logging message `n=3`",
    ]);
    expect(lines).toContain("DEBUG Action's `if` or `while` condition, `if_='action_count == 0'` or `while_='action_count < limit'`, evaluated False. Skipping.");
  });

  test("a common repeat keeps separate state per worker", async () => {
    const { fake, executor } = setUp({ leader: { experiment: "exp1" }, unit1: { experiment: "exp1" } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: rep
common:
  jobs:
    stirring:
      actions:
        - type: repeat
          t: 0s
          every: 0.01s
          max_time: 0.03s
          actions:
            - type: log
              t: 0s
              options: {message: hi}
`);
    await executor(p).run();
    const posts = fake.requests.filter((r) => r.method === "POST").map((r) => new URL(r.url).pathname);
    expect(posts.filter((x) => x.includes("/leader/"))).toHaveLength(3);
    expect(posts.filter((x) => x.includes("/unit1/"))).toHaveLength(3);
  });
});

/** A lookup port over a plain map; `set` notifies watchers like the MQTT cache does. */
class MapLookups implements LookupPort {
  private values = new Map<string, string>();
  private listeners: Array<(u: string, j: string, s: string) => void> = [];
  async get(unit: string, job: string, setting: string) {
    return this.values.get(`${unit}/${job}/${setting}`);
  }
  set(unit: string, job: string, setting: string, payload: string) {
    this.values.set(`${unit}/${job}/${setting}`, payload);
    for (const l of this.listeners) l(unit, job, setting);
  }
  watch(l: (u: string, j: string, s: string) => void) {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }
}

const WHEN_GROWTH = `
version: "1.0"
experiment_profile_name: when
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - type: when
            t: 0s
            wait_until: "::growth_rate_calculating:growth_rate.growth_rate > 0.1"
            actions:
              - type: log
                t: 0s
                options: {message: "gr=\${{ ::growth_rate_calculating:growth_rate.growth_rate }}"}
              - type: update
                t: 0.001h
                options: {target_rpm: 500}
`;

describe("when", () => {
  test("fires as soon as a value it reads changes, children relative to that moment, in list order", async () => {
    const { fake, log, clock, executor } = setUp({ leader: { experiment: "exp1" } });
    const lookups = new MapLookups();
    lookups.set("leader", "growth_rate_calculating", "growth_rate", '{"growth_rate":0.05}');
    const ex = executor(profileFrom(WHEN_GROWTH), { lookups, testing: true });
    // The executor drives the virtual clock; events are injected as timers on it.
    clock.setTimeout(() => lookups.set("leader", "growth_rate_calculating", "growth_rate", '{"growth_rate":0.2}'), 7_000);
    await ex.run();
    const sent = fake.requests.filter((r) => r.method !== "GET").map((r) => [(r.atMs - START_MS) / 1000, new URL(r.url).pathname]);
    expect(sent).toEqual([
      [7, "/api/workers/leader/experiments/exp1/logs"],
      [10.6, "/api/workers/leader/jobs/update/job_name/stirring/experiments/exp1"],
    ]);
    expect(log.text()).toContain("DEBUG 1. Logging message `gr=0.2`");
  });

  test("missing data counts as false and is re-checked every 15–25 s", async () => {
    const { fake, clock, executor } = setUp({ leader: { experiment: "exp1" } });
    const lookups = new MapLookups();
    const ex = executor(profileFrom(WHEN_GROWTH), { lookups, random: () => 0 });
    // No watcher call: the value appears silently at 31 s, only polling (every 15 s here) sees it, at 45 s.
    clock.setTimeout(
      () => (lookups as unknown as { values: Map<string, string> }).values.set("leader/growth_rate_calculating/growth_rate", '{"growth_rate":1.0}'),
      31_000,
    );
    await ex.run();

    expect(fake.requests.filter((r) => r.method === "POST").map((r) => (r.atMs - START_MS) / 1000)).toEqual([45]);
  });

  test("an error in the condition drops the when with `Error in action`", async () => {
    const { log, executor } = setUp({ leader: { experiment: "exp1" } });
    const lookups = new MapLookups();
    lookups.set("leader", "growth_rate_calculating", "growth_rate", '{"other":1}');
    await executor(profileFrom(WHEN_GROWTH), { lookups }).run();
    expect(log.text()).toContain(
      "ERROR Error in action: Expression lookup `leader:growth_rate_calculating:growth_rate.growth_rate` referenced missing nested key `growth_rate`. Available keys: [other]",
    );
  });
});

describe("if, assignment, led_intensity", () => {
  test("if false skips with the original's text; unassigned unit is skipped at scheduling", async () => {
    const { fake, log, executor } = setUp({ leader: { experiment: "exp1" }, unit2: { experiment: "other" } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: ifs
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - {type: start, t: 0s, if: "1 > 2"}
  unit2:
    label: two
    jobs:
      stirring:
        actions:
          - {type: start, t: 0s}
`);
    await executor(p).run();
    expect(fake.commands()).toEqual([]);
    expect(log.text()).toContain("DEBUG Action's `if` condition, `1 > 2`, evaluated False. Skipping action.");
    expect(log.text()).toContain(
      "WARNING There exists profile actions for unit2, but it's not assigned to experiment exp1. Skipping scheduling actions.",
    );
  });

  test("led_intensity: update/pause/stop become starts; resume is skipped with a warning instead of crashing", async () => {
    const { fake, log, executor } = setUp({ leader: { experiment: "exp1" } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: led
pioreactors:
  leader:
    jobs:
      led_intensity:
        actions:
          - {type: update, t: 0s, options: {A: 10}}
          - {type: pause, t: 1s}
          - {type: resume, t: 2s}
          - {type: when, t: 3s, wait_until: "True", actions: [{type: stop, t: 0s}]}
`);
    const outcome = await executor(p).run();
    expect(outcome.status).toBe("finished");
    const bodies = fake.requests.filter((r) => r.method === "PATCH").map((r) => JSON.parse(r.body ?? "{}").options);
    expect(bodies).toEqual([{ A: 10 }, { A: 0, B: 0, C: 0, D: 0 }, { A: 0, B: 0, C: 0, D: 0 }]);
    expect(log.text().filter((l) => l.startsWith("WARNING"))).toEqual([
      "WARNING 3. `resume` has no effect on led_intensity (a one-shot action); skipping it on leader.",
    ]);
  });
});

describe("early stop and concurrency", () => {
  test("stop mid-run: NOTICE with counts, started jobs stopped on active workers, no later requests", async () => {
    const { fake, log, clock, executor } = setUp({ leader: { experiment: "exp1" }, unit1: { experiment: "exp1" } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: long
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s}
        - {type: stop, t: 1h}
    od_reading:
      actions:
        - {type: start, t: 2h}
`);
    const ex = executor(p);
    clock.setTimeout(() => ex.requestStop(), 60_000);
    const outcome = await ex.run();
    expect(outcome).toEqual({ status: "stopped", actionCount: 2, notStarted: 2, waitingWhens: 0 });
    expect(log.text()).toContain(
      "NOTICE Stopping profile `long` early: 2 actions(s) completed, 2 action(s) not started. Stopping all started jobs.",
    );
    expect(fake.commands().slice(-2)).toEqual([
      'PATCH leader/unit_api/jobs/stop {"experiment":"exp1","job_source":"experiment_profile/1"}',
      'PATCH unit1/unit_api/jobs/stop {"experiment":"exp1","job_source":"experiment_profile/1"}',
    ]);
    expect(fake.running).toEqual([]);
    expect(log.text().some((l) => l.startsWith("INFO Finished"))).toBe(false);
  });

  test("a slow unit does not delay another unit, and its own actions stay in order", async () => {
    const { fake, executor } = setUp({ leader: { experiment: "exp1" }, slow: { experiment: "exp1", delayMs: 30_000 } });
    const p = profileFrom(`
version: "1.0"
experiment_profile_name: slow
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s}
        - {type: log, t: 5s, options: {message: five}}
        - {type: stop, t: 10s}
`);
    await executor(p).run();
    const owner = (url: string, host: string) => /\/workers\/([^/]+)\//.exec(url)?.[1] ?? host;
    const byHost = (h: string) => fake.requests.filter((r) => r.method !== "GET" && owner(r.url, r.host) === h);
    expect(byHost("leader").map((r) => at(r.atMs))).toEqual([0, 5, 10]);
    // The slow unit answers after 30 s (its start, then its task poll); its later actions wait for it, then go in order.
    const slow = byHost("slow").map((r) => [at(r.atMs), `${r.method} ${new URL(r.url).pathname}`]);
    expect(slow).toEqual([
      [0, "PATCH /unit_api/jobs/run/job_name/stirring"],
      [60, "POST /api/workers/slow/experiments/exp1/logs"],
      [60, "PATCH /api/workers/slow/jobs/stop/job_name/stirring/experiments/exp1"],
    ]);
  });
});
