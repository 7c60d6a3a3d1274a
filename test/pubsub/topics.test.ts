import {
  assignmentTopic,
  dosingEventsFilter,
  experimentWildcard,
  isTestingExperimentTopic,
  isValidFilter,
  jobCommandFilters,
  jobKey,
  logFilter,
  logTopic,
  managedLifecycleStopTopics,
  NO_EXPERIMENT,
  parseTopic,
  setCommandTopic,
  settingFilter,
  settingTopic,
  stateTopic,
  TopicError,
  topicMatches,
  UNIVERSAL_EXPERIMENT,
  UNIVERSAL_IDENTIFIER,
} from "../../src/pubsub/topics";

test("constants", () => {
  expect(UNIVERSAL_IDENTIFIER).toBe("$broadcast");
  expect(UNIVERSAL_EXPERIMENT).toBe("$experiment");
  expect(NO_EXPERIMENT).toBe("$no_experiment_present");
});

test("builders produce the topics seen in the captures", () => {
  expect(settingTopic("leader", "exp1", "stirring", "target_rpm")).toBe("pioreactor/leader/exp1/stirring/target_rpm");
  expect(stateTopic("leader", "exp1", "stirring")).toBe("pioreactor/leader/exp1/stirring/$state");
  expect(settingTopic("leader", "exp1", "stirring", "state")).toBe("pioreactor/leader/exp1/stirring/$state");
  expect(setCommandTopic(UNIVERSAL_IDENTIFIER, "exp1", "stirring", "target_rpm")).toBe("pioreactor/$broadcast/exp1/stirring/target_rpm/set");
  expect(setCommandTopic("leader", "exp1", "stirring", "state")).toBe("pioreactor/leader/exp1/stirring/$state/set");
  expect(logTopic("leader", "exp1", "app", "DEBUG")).toBe("pioreactor/leader/exp1/logs/app/debug");
  expect(stateTopic("leader", "exp1", jobKey("experiment_profile", 1))).toBe("pioreactor/leader/exp1/experiment_profile/1/$state");
  expect(assignmentTopic("unit1")).toBe("pioreactor/unit1/$experiment/assignment");
  expect(experimentWildcard("unit1", "_testing_exp1")).toBe("pioreactor/unit1/_testing_exp1/#");
});

test("command filters: the job's unit and $broadcast, same experiment", () => {
  expect(jobCommandFilters("leader", "exp1", "stirring")).toEqual([
    "pioreactor/leader/exp1/stirring/+/set",
    "pioreactor/$broadcast/exp1/stirring/+/set",
  ]);
  expect(managedLifecycleStopTopics("u", "e", "add_media")).toEqual([
    "pioreactor/u/e/add_media/$state/set",
    "pioreactor/u/$experiment/add_media/$state/set",
    "pioreactor/$broadcast/e/add_media/$state/set",
    "pioreactor/$broadcast/$experiment/add_media/$state/set",
  ]);
  expect(logFilter({ unit: "u" })).toBe("pioreactor/u/+/logs/+/+");
  expect(settingFilter({ job: "monitor", setting: "state" })).toBe("pioreactor/+/+/monitor/$state");
  expect(settingFilter({ unit: "$broadcast", job: "monitor", setting: "flicker_led_response_okay" })).toBe(
    "pioreactor/$broadcast/+/monitor/flicker_led_response_okay",
  );
  expect(dosingEventsFilter({ unit: "u" })).toBe("pioreactor/u/+/dosing_events");
});

test("bad segments are refused with a clear error", () => {
  expect(() => settingTopic("u", "my/exp", "stirring", "x")).toThrow(TopicError);
  expect(() => settingTopic("u", "exp", "stirring", "")).toThrow(/cannot be empty/);
  expect(() => logTopic("u#", "e", "app", "INFO")).toThrow(/cannot contain/);
});

test("parse ↔ build round trips", () => {
  const cases: [string, ReturnType<typeof parseTopic>][] = [
    [
      settingTopic("leader", "exp1", "stirring", "target_rpm"),
      { kind: "setting", unit: "leader", experiment: "exp1", job: "stirring", setting: "target_rpm", attribute: "target_rpm" },
    ],
    [
      stateTopic("leader", "exp1", "stirring"),
      { kind: "setting", unit: "leader", experiment: "exp1", job: "stirring", setting: "$state", attribute: "state" },
    ],
    [
      setCommandTopic("$broadcast", "exp1", "stirring", "target_rpm"),
      { kind: "set", unit: "$broadcast", experiment: "exp1", job: "stirring", setting: "target_rpm", attribute: "target_rpm" },
    ],
    [
      setCommandTopic("leader", "exp1", "experiment_profile/12", "state"),
      { kind: "set", unit: "leader", experiment: "exp1", job: "experiment_profile/12", setting: "$state", attribute: "state" },
    ],
    [
      settingTopic("leader", "exp1", "experiment_profile/12", "action_count"),
      { kind: "setting", unit: "leader", experiment: "exp1", job: "experiment_profile/12", setting: "action_count", attribute: "action_count" },
    ],
    [logTopic("leader", "exp1", "app", "INFO"), { kind: "log", unit: "leader", experiment: "exp1", source: "app", level: "info" }],
    ["pioreactor/leader/exp1/dosing_events", { kind: "other", unit: "leader", experiment: "exp1", rest: ["dosing_events"] }],
  ];
  for (const [topic, parsed] of cases) expect(parseTopic(topic)).toEqual(parsed);
  expect(parseTopic("$SYS/broker/uptime")).toBeUndefined();
  expect(parseTopic("pioreactor/leader")).toBeUndefined();
});

test("testing experiments", () => {
  expect(isTestingExperimentTopic("pioreactor/u/_testing_exp1/od_reading/od1")).toBe(true);
  expect(isTestingExperimentTopic("pioreactor/u/exp1/od_reading/od1")).toBe(false);
});

test.each([
  ["pioreactor/#", "pioreactor/u/e/stirring/$state", true],
  ["pioreactor/#", "pioreactor", true],
  ["pioreactor/+/+/stirring/+/set", "pioreactor/$broadcast/e/stirring/target_rpm/set", true],
  ["pioreactor/+/+/stirring/+/set", "pioreactor/u/e/stirring/target_rpm", false],
  ["pioreactor/+/+/monitor/$state", "pioreactor/u/$experiment/monitor/$state", true],
  ["#", "$SYS/broker/uptime", false],
  ["+/broker/uptime", "$SYS/broker/uptime", false],
  ["$SYS/#", "$SYS/broker/uptime", true],
  ["a/+", "a/b/c", false],
  ["a/+/c", "a//c", true],
  ["a/b", "a/b", true],
])("topicMatches(%s, %s) = %s", (filter, topic, expected) => {
  expect(topicMatches(filter, topic)).toBe(expected);
});

test("topicMatches agrees with matching level by level on every small filter and topic", () => {
  // The MQTT rule written the obvious way (split into levels), as the oracle for the fast matcher.
  const byLevels = (filter: string, topic: string): boolean => {
    const f = filter.split("/");
    const t = topic.split("/");
    if (t[0].startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
    for (let i = 0; i < f.length; i++) {
      if (f[i] === "#") return i === f.length - 1;
      if (i >= t.length) return false;
      if (f[i] !== "+" && f[i] !== t[i]) return false;
    }
    return f.length === t.length;
  };
  const levels = ["a", "b", "", "$s", "ab"];
  const paths = (alphabet: string[], maxDepth: number): string[] => {
    const out: string[] = [];
    const grow = (prefix: string[]) => {
      if (prefix.length > 0) out.push(prefix.join("/"));
      if (prefix.length < maxDepth) for (const l of alphabet) grow([...prefix, l]);
    };
    grow([]);
    return out;
  };
  const topics = paths(levels, 3);
  const filters = paths([...levels, "+", "#"], 3);
  let matches = 0;
  for (const filter of filters) {
    for (const topic of topics) {
      const expected = byLevels(filter, topic);
      if (topicMatches(filter, topic) !== expected) throw new Error(`topicMatches(${JSON.stringify(filter)}, ${JSON.stringify(topic)}) should be ${expected}`);
      if (expected) matches++;
    }
  }
  expect(filters.length * topics.length).toBeGreaterThan(50_000);
  expect(matches).toBeGreaterThan(1000);
});

test("filter validation", () => {
  expect(isValidFilter("pioreactor/#")).toBe(true);
  expect(isValidFilter("pioreactor/#/x")).toBe(false);
  expect(isValidFilter("pio+")).toBe(false);
  expect(isValidFilter("")).toBe(false);
});
