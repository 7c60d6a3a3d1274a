/**
 * What the MQTT→DB streaming job stores for each message: topic filter → table, and payload →
 * row, as pure functions (no database, no clock: "now" is passed in). The streaming job
 * subscribes to `streamingSubscriptions()` and inserts what `rowForMessage` returns.
 *
 * Payloads are decoded with the strict struct decoders, so a payload the original's msgspec
 * would reject is reported as `invalid` (the original logs a WARNING and skips the row).
 *
 * Deliberate difference: every timestamp column is written as `YYYY-MM-DDTHH:MM:SS.mmmZ` in
 * UTC. The original does that for struct datetimes but copies the payload's own text (often
 * `…:08.807000Z`) for `ir_led_intensities.timestamp` and the automation settings' `started_at`
 * / `ended_at`, and keeps a non-UTC offset as sent; one format keeps ordering by text correct.
 */
import { formatMillisTimestamp } from "../../util/python-format";
import {
  type Decoded,
  decodeAutomationEvent,
  decodeAutomationSettings,
  decodeDosingEvent,
  decodeGrowthRate,
  decodeLEDChangeEvent,
  decodeLog,
  decodeMeasuredRPM,
  decodeODFiltered,
  decodeODFused,
  decodeODReading,
  decodeRawODReading,
  decodeRelativeIntensityOfIrLed,
  decodeTemperature,
  type WireDatetime,
} from "../../pubsub/structs";
import { pythonJsonDumpsOfJsonText, topLevelFieldText } from "./python-json";
import { topicMatches as topicMatchesFilter } from "../../pubsub/topics";

export type SqlValue = string | number | null;
export type Row = Record<string, SqlValue>;

export type RowResult = { table: string; row: Row } | { skip: string } | { invalid: string };

/** PWM channel ("1".."5") → BCM GPIO pin, from the leader's hardware map. */
export type PwmChannelPins = Readonly<Record<"1" | "2" | "3" | "4" | "5", number>>;

/**
 * The pins the original falls back to when the leader has no HAT. Workers publish `pwms/dc`
 * keyed by *pin*, so the leader maps pins back to channels with its own map.
 */
export const DEFAULT_PWM_CHANNEL_PINS: PwmChannelPins = { "1": 17, "2": 13, "3": 16, "4": 12, "5": 18 };

export interface RowOptions {
  pwmChannelPins?: PwmChannelPins;
  /** Tags of plugin-defined automation events to accept besides the original's own. */
  extraAutomationEventNames?: readonly string[];
}

interface Message {
  unit: string;
  experiment: string;
  text: string;
  nowMs: number;
  opts: RowOptions;
}

type Parsed = { row: Row } | { invalid: string };
type Parse = (m: Message) => Parsed;

interface Sink {
  filters: readonly string[];
  table: string;
  parse: Parse;
}

/**
 * A payload datetime as the database stores it. The publishers' own form (`…:08.807000Z`, UTC,
 * at least milliseconds) already *is* the stored text up to the milliseconds, so it is cut
 * instead of formatted again (a third of a row's decoding); `formatMillisTimestamp` handles
 * every other form (offsets, lowercase `t`/`z`, fewer digits, years before 1000).
 */
export function dbTimestamp(d: WireDatetime): string {
  const t = d.text;
  const cut = t.length >= 24 && t.charCodeAt(t.length - 1) === 90 /* Z */ && t.charCodeAt(10) === 84 /* T */ && t.charCodeAt(19) === 46 /* . */ && t.charCodeAt(0) !== 48; /* 0 */
  return cut ? `${t.slice(0, 23)}Z` : formatMillisTimestamp(d.epochMs);
}

const ts = dbTimestamp;

/** Unit and experiment (from the topic) plus the row's own columns, or the decoder's complaint. */
function withOrigin<T>(decoded: Decoded<T>, m: Message, columns: (v: T) => Row): Parsed {
  if (!decoded.ok) return { invalid: decoded.error };
  return { row: { experiment: m.experiment, pioreactor_unit: m.unit, ...columns(decoded.value) } };
}

/** A bare number payload (`15.0`), as the original reads it with `float(json.loads(payload))`. */
function numberPayload(text: string): number | { invalid: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { invalid: "payload: not valid JSON" };
  }
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) v = Number(v);
  if (typeof v !== "number" || !Number.isFinite(v)) return { invalid: `payload: expected a number, got ${text.slice(0, 40)}` };
  return v;
}

const perChannel = (job: string, prefix: string) => [1, 2, 3, 4].map((i) => `pioreactor/+/+/${job}/${prefix}${i}`);

const automationJobs = ["dosing", "led", "temperature"] as const;

function parsePwmDcs(m: Message): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(m.text);
  } catch {
    return { invalid: "payload: not valid JSON" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { invalid: "payload: expected an object of pin → duty cycle" };
  const byPin = v as Record<string, unknown>;
  const pins = m.opts.pwmChannelPins ?? DEFAULT_PWM_CHANNEL_PINS;
  const row: Row = { experiment: m.experiment, pioreactor_unit: m.unit, timestamp: formatMillisTimestamp(m.nowMs) };
  for (const channel of ["1", "2", "3", "4", "5"] as const) {
    const dc = byPin[String(pins[channel])] ?? 0;
    if (typeof dc !== "number") return { invalid: `${pins[channel]}: expected a number, got ${JSON.stringify(dc)}` };
    row[`channel_${channel}`] = dc;
  }
  return { row };
}

function parseAutomationEvent(m: Message): Parsed {
  const decoded = decodeAutomationEvent(m.text, m.opts.extraAutomationEventNames);
  return withOrigin(decoded, m, (e) => ({
    timestamp: formatMillisTimestamp(m.nowMs),
    message: e.message,
    // The original stores `json.dumps(data)` (Python's separators and number forms) or "".
    data: e.data === null ? "" : pythonJsonDumpsOfJsonText(topLevelFieldText(m.text, "data") ?? "null"),
    event_name: e.event_name,
  }));
}

function parseAutomationSettings(m: Message): Parsed {
  const decoded = decodeAutomationSettings(m.text);
  if (!decoded.ok) return { invalid: decoded.error };
  // Unit and experiment come from the payload here, as in the original.
  const s = decoded.value;
  return {
    row: {
      pioreactor_unit: s.pioreactor_unit,
      experiment: s.experiment,
      started_at: ts(s.started_at),
      ended_at: s.ended_at === null ? null : ts(s.ended_at),
      automation_name: s.automation_name,
      settings: s.settings,
    },
  };
}

const SINKS: readonly Sink[] = [
  {
    filters: ["pioreactor/+/+/growth_rate_calculating/od_filtered"],
    table: "od_readings_filtered",
    parse: (m) =>
      withOrigin(decodeODFiltered(m.text), m, (v) => ({ timestamp: ts(v.timestamp), normalized_od_reading: v.od_filtered })),
  },
  {
    filters: perChannel("od_reading", "od"),
    table: "od_readings",
    parse: (m) =>
      withOrigin(decodeODReading(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        od_reading: v.od,
        angle: Number(v.angle),
        channel: Number(v.channel),
      })),
  },
  {
    filters: ["pioreactor/+/+/od_reading/od_fused"],
    table: "od_readings_fused",
    parse: (m) => withOrigin(decodeODFused(m.text), m, (v) => ({ timestamp: ts(v.timestamp), od_reading: v.od_fused })),
  },
  {
    filters: perChannel("od_reading", "raw_od"),
    table: "raw_od_readings",
    parse: (m) =>
      withOrigin(decodeRawODReading(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        od_reading: v.od,
        channel: Number(v.channel),
      })),
  },
  {
    filters: ["pioreactor/+/+/dosing_events"],
    table: "dosing_events",
    parse: (m) =>
      withOrigin(decodeDosingEvent(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        volume_change_ml: v.volume_change,
        event: v.event,
        source_of_event: v.source_of_event,
      })),
  },
  {
    filters: ["pioreactor/+/+/led_change_events"],
    table: "led_change_events",
    parse: (m) =>
      withOrigin(decodeLEDChangeEvent(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        channel: v.channel,
        intensity: v.intensity,
        source_of_event: v.source_of_event,
      })),
  },
  {
    filters: ["pioreactor/+/+/growth_rate_calculating/growth_rate"],
    table: "growth_rates",
    parse: (m) => withOrigin(decodeGrowthRate(m.text), m, (v) => ({ timestamp: ts(v.timestamp), rate: v.growth_rate })),
  },
  {
    filters: ["pioreactor/+/+/temperature_automation/temperature"],
    table: "temperature_readings",
    parse: (m) =>
      withOrigin(decodeTemperature(m.text), m, (v) => ({ timestamp: ts(v.timestamp), temperature_c: v.temperature })),
  },
  {
    filters: ["pioreactor/+/+/bioreactor/alt_media_fraction"],
    table: "alt_media_fractions",
    parse: (m) => {
      const v = numberPayload(m.text);
      if (typeof v !== "number") return v;
      const timestamp = formatMillisTimestamp(m.nowMs);
      return { row: { experiment: m.experiment, pioreactor_unit: m.unit, timestamp, alt_media_fraction: v } };
    },
  },
  {
    filters: ["pioreactor/+/+/bioreactor/current_volume_ml"],
    table: "liquid_volumes",
    parse: (m) => {
      const v = numberPayload(m.text);
      if (typeof v !== "number") return v;
      const timestamp = formatMillisTimestamp(m.nowMs);
      return { row: { experiment: m.experiment, pioreactor_unit: m.unit, timestamp, liquid_volume: v } };
    },
  },
  {
    filters: ["pioreactor/+/+/logs/#"],
    table: "logs",
    parse: (m) =>
      withOrigin(decodeLog(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        message: v.message,
        task: v.task,
        level: v.level.toUpperCase(),
        source: v.source,
      })),
  },
  ...automationJobs.map(
    (job): Sink => ({
      filters: [`pioreactor/+/+/${job}_automation/${job}_automation_settings`],
      table: `${job}_automation_settings`,
      parse: parseAutomationSettings,
    }),
  ),
  {
    filters: ["pioreactor/+/+/stirring/measured_rpm"],
    table: "stirring_rates",
    parse: (m) =>
      withOrigin(decodeMeasuredRPM(m.text), m, (v) => ({ timestamp: ts(v.timestamp), measured_rpm: v.measured_rpm })),
  },
  {
    // Legacy: nothing publishes here any more, but the original still listens.
    filters: ["pioreactor/+/+/od_blank/mean/+"],
    table: "od_blanks",
    parse: (m) =>
      withOrigin(decodeODReading(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        od_reading: v.od,
        channel: v.channel,
        angle: Number(v.angle),
      })),
  },
  {
    filters: ["pioreactor/+/+/od_reading/relative_intensity_of_ir_led"],
    table: "ir_led_intensities",
    parse: (m) =>
      withOrigin(decodeRelativeIntensityOfIrLed(m.text), m, (v) => ({
        timestamp: ts(v.timestamp),
        relative_intensity: v.relative_intensity_of_ir_led,
      })),
  },
  ...automationJobs.map(
    (job): Sink => ({
      filters: [`pioreactor/+/+/${job}_automation/latest_event`],
      table: `${job}_automation_events`,
      parse: parseAutomationEvent,
    }),
  ),
  { filters: ["pioreactor/+/+/pwms/dc"], table: "pwm_dcs", parse: parsePwmDcs },
  {
    filters: ["pioreactor/+/+/experiment_profile/+/experiment_profile_name"],
    table: "experiment_profile_runs",
    parse: (m) => ({
      row: { started_at: formatMillisTimestamp(m.nowMs), experiment_profile_name: m.text, experiment: m.experiment },
    }),
  },
];

const SINK_PREFIX = "pioreactor/+/+/";

/**
 * Which sink takes a topic, without matching it against every filter: each built-in filter is
 * `pioreactor/+/+/<rest>`, and most `<rest>`s have no wildcard, so a map on the topic's rest
 * finds them; the few with wildcards are matched as filters. (At tens of thousands of messages a
 * second, matching ~30 filters per message was the job's largest cost after SQLite.)
 */
interface SinkIndex {
  exact: ReadonlyMap<string, { sink: Sink; order: number }>;
  wildcard: ReadonlyArray<{ filter: string; sink: Sink; order: number }>;
}

function indexSinks(sinks: readonly Sink[]): SinkIndex {
  const exact = new Map<string, { sink: Sink; order: number }>();
  const wildcard: Array<{ filter: string; sink: Sink; order: number }> = [];
  sinks.forEach((sink, order) => {
    for (const filter of sink.filters) {
      const rest = filter.startsWith(SINK_PREFIX) ? filter.slice(SINK_PREFIX.length) : undefined;
      if (rest !== undefined && !/[+#]/.test(rest)) {
        if (!exact.has(rest)) exact.set(rest, { sink, order });
      } else wildcard.push({ filter, sink, order });
    }
  });
  return { exact, wildcard };
}

const SINK_INDEX = indexSinks(SINKS);

/** The first sink (in SINKS order) whose filter matches, as `SINKS.find` would give. */
function sinkFor(topic: string, rest: string | undefined): Sink | undefined {
  const exact = rest === undefined ? undefined : SINK_INDEX.exact.get(rest);
  for (const w of SINK_INDEX.wildcard) {
    if (exact && w.order > exact.order) break;
    if (topicMatchesFilter(w.filter, topic)) return w.sink;
  }
  return exact?.sink;
}

/** Every topic filter the streaming job subscribes to (QoS 2, retained messages ignored). */
export function streamingSubscriptions(): string[] {
  return SINKS.flatMap((s) => s.filters);
}

/** Every (filter, table) pair in the order the first match wins. */
export function streamingRoutes(): Array<{ filter: string; table: string }> {
  return SINKS.flatMap((s) => s.filters.map((filter) => ({ filter, table: s.table })));
}

/** The table a topic's messages go to (undefined: none), as `rowForMessage` decides it. */
export function tableForTopic(topic: string): string | undefined {
  return sinkFor(topic, restOfTopic(topic))?.table;
}

/** `<rest>` of `pioreactor/<unit>/<experiment>/<rest>`, or undefined for other topics. */
function restOfTopic(topic: string): string | undefined {
  const unitEnd = topic.startsWith("pioreactor/") ? topic.indexOf("/", 11) : -1;
  const experimentEnd = unitEnd < 0 ? -1 : topic.indexOf("/", unitEnd + 1);
  return experimentEnd < 0 ? undefined : topic.slice(experimentEnd + 1);
}

/** The tables `rowForMessage` can produce rows for. */
export function streamingTables(): string[] {
  return [...new Set(SINKS.map((s) => s.table))];
}

/**
 * The row to insert for one received message, `{skip}` when the original stores nothing for it
 * (scratch `_testing_` experiments, cleared retained values, topics no table listens to), or
 * `{invalid}` naming the field that failed to decode.
 */
export function rowForMessage(topic: string, payload: Buffer | string, nowMs: number, opts: RowOptions = {}): RowResult {
  if (topic.includes("/_testing_")) return { skip: "testing experiment" };
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  if (text.length === 0) return { skip: "empty payload" };
  // Unit and experiment are the topic's 2nd and 3rd levels; found once, without splitting it.
  const unitEnd = topic.startsWith("pioreactor/") ? topic.indexOf("/", 11) : -1;
  const experimentEnd = unitEnd < 0 ? -1 : topic.indexOf("/", unitEnd + 1);
  const sink = sinkFor(topic, experimentEnd < 0 ? undefined : topic.slice(experimentEnd + 1));
  if (!sink) return { skip: "no table for this topic" };
  let unit = "";
  let experiment = "";
  if (experimentEnd >= 0) {
    unit = topic.slice(11, unitEnd);
    experiment = topic.slice(unitEnd + 1, experimentEnd);
  } else [, unit = "", experiment = ""] = topic.split("/", 3); // (no built-in filter matches such a topic)
  const parsed = sink.parse({ unit, experiment, text, nowMs, opts });
  return "invalid" in parsed ? parsed : { table: sink.table, row: parsed.row };
}
