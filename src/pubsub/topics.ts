/**
 * The Pioreactor topic tree, built and parsed in one place. Topics are the cluster's API: a UI,
 * a Python unit and our jobs must agree on every character, so no other module formats them.
 *
 *   pioreactor/<unit>/<experiment>/<job>/<setting>          a setting (retained)
 *   pioreactor/<unit>/<experiment>/<job>/$state             the job's state (retained)
 *   pioreactor/<unit>/<experiment>/<job>/<setting>/set      a command (<unit> may be $broadcast)
 *   pioreactor/<unit>/<experiment>/logs/<source>/<level>    a log record
 *
 * `<job>` may be a two-level key `<name>/<job_id>` (long-running managed actions such as
 * `experiment_profile/12`), which is why builders take a job *key* and the parser recognises a
 * numeric second level.
 */

export const TOPIC_ROOT = "pioreactor";
/** Unit wildcard in command topics: every unit that runs the job obeys it. */
export const UNIVERSAL_IDENTIFIER = "$broadcast";
/** Experiment segment for unit-scoped jobs and logs (monitor, self_test, CLI logs). */
export const UNIVERSAL_EXPERIMENT = "$experiment";
export const NO_EXPERIMENT = "$no_experiment_present";
/** The implicit `state` setting is published under this name. */
export const STATE_SEGMENT = "$state";
export const SET_SEGMENT = "set";
export const LOGS_SEGMENT = "logs";

export type LogLevelName = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR" | "CRITICAL";

/** A topic segment that would break the tree (empty, or containing `/`, `+`, `#`, NUL). */
export class TopicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TopicError";
  }
}

function segment(what: string, value: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TopicError(`The ${what} in an MQTT topic cannot be empty.`);
  }
  if (/[/+#\u0000]/.test(value)) {
    throw new TopicError(`The ${what} ${JSON.stringify(value)} cannot contain '/', '+', '#' or NUL characters.`);
  }
  return value;
}

/** A job key may have one `/` (`experiment_profile/12`); each part must be a clean segment. */
function jobKeySegments(jobKey: string): string {
  const parts = String(jobKey).split("/");
  if (parts.length > 2) throw new TopicError(`The job key ${JSON.stringify(jobKey)} has more than two levels.`);
  return parts.map((p) => segment("job name", p)).join("/");
}

/** `experiment_profile` + 12 → `experiment_profile/12`: the key long-running managed actions publish under. */
export function jobKey(jobName: string, jobId?: number | string): string {
  segment("job name", jobName);
  return jobId === undefined ? jobName : `${jobName}/${segment("job id", String(jobId))}`;
}

/** The topic name of a setting: the implicit `state` setting is `$state`. */
export function settingSegment(setting: string): string {
  return setting === "state" ? STATE_SEGMENT : segment("setting name", setting);
}

/** Inverse of `settingSegment`, as the original's setter does: a leading `$` is stripped. */
export function attributeFromSettingSegment(settingSegmentText: string): string {
  return settingSegmentText.startsWith("$") ? settingSegmentText.slice(1) : settingSegmentText;
}

/** `pioreactor/<unit>/<experiment>/<…rest>`: for the few topics outside the job/setting shape. */
export function experimentTopic(unit: string, experiment: string, ...rest: string[]): string {
  return [TOPIC_ROOT, segment("unit", unit), segment("experiment", experiment), ...rest.map((r) => segment("topic level", r))].join("/");
}

/** `pioreactor/<unit>/<exp>/<job>/<setting>` (`state` → `$state`). */
export function settingTopic(unit: string, experiment: string, job: string, setting: string): string {
  return `${experimentTopic(unit, experiment)}/${jobKeySegments(job)}/${settingSegment(setting)}`;
}

export function stateTopic(unit: string, experiment: string, job: string): string {
  return settingTopic(unit, experiment, job, "state");
}

/** `pioreactor/<unit>/<exp>/<job>/<setting>/set`; `unit` may be `UNIVERSAL_IDENTIFIER`. */
export function setCommandTopic(unit: string, experiment: string, job: string, setting: string): string {
  return `${settingTopic(unit, experiment, job, setting)}/${SET_SEGMENT}`;
}

/**
 * What a running job listens to for commands: its own unit and `$broadcast`, in its own experiment
 * (not `$experiment`, exactly as the original).
 */
export function jobCommandFilters(unit: string, experiment: string, job: string): string[] {
  const key = jobKeySegments(job);
  return [
    `${experimentTopic(unit, experiment)}/${key}/+/${SET_SEGMENT}`,
    `${experimentTopic(UNIVERSAL_IDENTIFIER, experiment)}/${key}/+/${SET_SEGMENT}`,
  ];
}

/**
 * Where a managed action (pumps, od_blank, experiment_profile …) is told to stop: its `$state/set`
 * for its unit or `$broadcast`, in its experiment or `$experiment`.
 */
export function managedLifecycleStopTopics(unit: string, experiment: string, job: string): string[] {
  const topics: string[] = [];
  for (const u of [unit, UNIVERSAL_IDENTIFIER]) {
    for (const e of [experiment, UNIVERSAL_EXPERIMENT]) topics.push(setCommandTopic(u, e, job, "state"));
  }
  return topics;
}

/** `pioreactor/<unit>/<exp>/logs/<source>/<level lowercased>`. */
export function logTopic(unit: string, experiment: string, source: string, level: LogLevelName | string): string {
  return experimentTopic(unit, experiment, LOGS_SEGMENT, source, level.toLowerCase());
}

/** Filter over log topics; omitted parts are `+`. */
export function logFilter(parts: { unit?: string; experiment?: string; source?: string; level?: string } = {}): string {
  const lv = parts.level === undefined ? "+" : parts.level.toLowerCase();
  return [TOPIC_ROOT, parts.unit ?? "+", parts.experiment ?? "+", LOGS_SEGMENT, parts.source ?? "+", lv].join("/");
}

/** Filter over settings; omitted parts are `+` (a two-level job key works as `job`). */
export function settingFilter(parts: { unit?: string; experiment?: string; job?: string; setting?: string } = {}): string {
  const setting = parts.setting === undefined ? "+" : settingSegment(parts.setting);
  return [TOPIC_ROOT, parts.unit ?? "+", parts.experiment ?? "+", parts.job ?? "+", setting].join("/");
}

/** Everything under one unit and experiment, e.g. to clear a scratch `_testing_` experiment. */
export function experimentWildcard(unit: string, experiment: string): string {
  return `${experimentTopic(unit, experiment)}/#`;
}

export function dosingEventsTopic(unit: string, experiment: string): string {
  return experimentTopic(unit, experiment, "dosing_events");
}

/** Dosing events of one or all units/experiments (omitted parts are `+`). */
export function dosingEventsFilter(parts: { unit?: string; experiment?: string } = {}): string {
  return [TOPIC_ROOT, parts.unit ?? "+", parts.experiment ?? "+", "dosing_events"].join("/");
}

export function ledChangeEventsTopic(unit: string, experiment: string): string {
  return experimentTopic(unit, experiment, "led_change_events");
}

export function ledIntensityTopic(unit: string, experiment: string): string {
  return experimentTopic(unit, experiment, "leds", "intensity");
}

export function pwmDutyCyclesTopic(unit: string, experiment: string): string {
  return experimentTopic(unit, experiment, "pwms", "dc");
}

export function pidLogTopic(unit: string, experiment: string, targetName: string): string {
  return experimentTopic(unit, experiment, "pid_log", targetName);
}

/** The leader's retained record of which experiment a worker is assigned to. */
export function assignmentTopic(unit: string): string {
  return experimentTopic(unit, UNIVERSAL_EXPERIMENT, "assignment");
}

/** The original never writes scratch experiments (`_testing_<exp>`) to the database. */
export function isTestingExperimentTopic(topic: string): boolean {
  return topic.includes("/_testing_");
}

export type ParsedTopic =
  | {
      kind: "setting";
      unit: string;
      experiment: string;
      /** The job key: `stirring` or `experiment_profile/12`. */
      job: string;
      /** As in the topic: `target_rpm`, `$state`. */
      setting: string;
      /** The attribute it maps to: `target_rpm`, `state`. */
      attribute: string;
    }
  | {
      kind: "set";
      unit: string;
      experiment: string;
      job: string;
      setting: string;
      attribute: string;
    }
  | { kind: "log"; unit: string; experiment: string; source: string; level: string }
  /** Any other `pioreactor/<unit>/<exp>/…` topic (`dosing_events`, deeper trees). */
  | { kind: "other"; unit: string; experiment: string; rest: string[] };

const JOB_ID = /^\d+$/;

/**
 * Parses a concrete topic. Returns undefined for topics outside `pioreactor/<unit>/<exp>/…`.
 * A numeric level after the job name is a job id (Python attribute names cannot be numbers), so
 * `…/experiment_profile/12/$state` is the `$state` of job key `experiment_profile/12`.
 */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split("/");
  if (parts.length < 4 || parts[0] !== TOPIC_ROOT || !parts[1] || !parts[2]) return undefined;
  const [, unit, experiment, ...rest] = parts;
  if (rest.some((p) => p.length === 0)) return { kind: "other", unit, experiment, rest };
  if (rest[0] === LOGS_SEGMENT && rest.length === 3) {
    return { kind: "log", unit, experiment, source: rest[1], level: rest[2] };
  }
  const keyLength = rest.length >= 3 && JOB_ID.test(rest[1]) ? 2 : 1;
  const job = rest.slice(0, keyLength).join("/");
  const tail = rest.slice(keyLength);
  if (tail.length === 1) {
    return { kind: "setting", unit, experiment, job, setting: tail[0], attribute: attributeFromSettingSegment(tail[0]) };
  }
  if (tail.length === 2 && tail[1] === SET_SEGMENT) {
    return { kind: "set", unit, experiment, job, setting: tail[0], attribute: attributeFromSettingSegment(tail[0]) };
  }
  return { kind: "other", unit, experiment, rest };
}

/**
 * MQTT filter matching (`+` one level, `#` this level and everything below). As brokers do,
 * a wildcard in the first level does not match topics starting with `$` (`$SYS/…`).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  // Walks both strings level by level without splitting them: the streamer tests each message
  // against dozens of filters, and a simulated week publishes millions of messages.
  const fLen = filter.length;
  const tLen = topic.length;
  if (topic.charCodeAt(0) === DOLLAR) {
    const first = filter.charCodeAt(0);
    if ((first === PLUS || first === HASH) && (fLen === 1 || filter.charCodeAt(1) === SLASH)) return false;
  }
  let fi = 0;
  let ti = 0;
  for (;;) {
    let fEnd = filter.indexOf("/", fi);
    if (fEnd < 0) fEnd = fLen;
    const wildcard = fEnd - fi === 1 ? filter.charCodeAt(fi) : -1;
    if (wildcard === HASH) return fEnd === fLen;
    // ti past the end: the topic has no level left for this filter level.
    if (ti > tLen) return false;
    let tEnd = topic.indexOf("/", ti);
    if (tEnd < 0) tEnd = tLen;
    if (wildcard !== PLUS) {
      const n = fEnd - fi;
      if (n !== tEnd - ti) return false;
      for (let k = 0; k < n; k++) if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false;
    }
    if (fEnd === fLen) return tEnd === tLen;
    fi = fEnd + 1;
    ti = tEnd + 1;
  }
}

const DOLLAR = "$".charCodeAt(0);
const PLUS = "+".charCodeAt(0);
const HASH = "#".charCodeAt(0);
const SLASH = "/".charCodeAt(0);

/** True if the filter is syntactically valid (wildcards occupy whole levels, `#` only last). */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split("/");
  return levels.every((level, i) => {
    if (level.includes("#")) return level === "#" && i === levels.length - 1;
    if (level.includes("+")) return level === "+";
    return true;
  });
}
