/**
 * Which rows one MQTT message becomes: the built-in topic → table mappings (`rows.ts`) plus the
 * ones plugins register, the equivalent of the original's `register_source_to_sink`.
 *
 * Registrations live on an instance the streaming command creates and hands to its plugins, so
 * there is no module-level list a test or a second job could leak into.
 *
 * As in the original, every mapping whose filter matches a topic contributes: a plugin may store
 * a built-in topic in a table of its own as well.
 */
import { type Row, type RowOptions, rowForMessage, streamingSubscriptions } from "./rows";
import { topicMatches as topicMatchesFilter } from "../../pubsub/topics";

export interface TableRow {
  table: string;
  row: Row;
}

/** A plugin's mapping: what to subscribe to, the table, and how a payload becomes row(s). */
export interface PluginSink {
  /** One MQTT topic filter or several (`pioreactor/+/+/my_job/reading`). */
  topic: string | readonly string[];
  table: string;
  /**
   * Column → value for the table, a list of them, or null to store nothing for this message.
   * Throwing refuses the message: it is logged as invalid with the error's message.
   */
  parse(topic: string, payload: Buffer, nowMs: number): Row | Row[] | null;
}

/** Read-only: messages with nothing to report share their empty lists. */
export interface RoutedMessage {
  readonly rows: readonly TableRow[];
  /** Why mappings that matched refused the payload (empty when all accepted it). */
  readonly invalid: readonly string[];
}

const NONE_INVALID: readonly string[] = [];
const NOTHING: RoutedMessage = { rows: [], invalid: NONE_INVALID };

export class StreamingSinks {
  private readonly plugins: PluginSink[] = [];

  constructor(private readonly rowOptions: RowOptions = {}) {}

  /** Adds plugin mappings; call before the streaming job starts (subscriptions are made once). */
  register(sinks: PluginSink | readonly PluginSink[]): this {
    for (const sink of Array.isArray(sinks) ? sinks : [sinks as PluginSink]) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(sink.table)) {
        throw new Error(`A streaming sink's table must be a plain SQL name, got ${JSON.stringify(sink.table)}.`);
      }
      this.plugins.push(sink);
    }
    return this;
  }

  /** Every filter to subscribe to, built-in first, without duplicates. */
  subscriptions(): string[] {
    const plugin = this.plugins.flatMap((s) => (typeof s.topic === "string" ? [s.topic] : [...s.topic]));
    return [...new Set([...streamingSubscriptions(), ...plugin])];
  }

  route(topic: string, payload: Buffer, nowMs: number): RoutedMessage {
    // Checked here as well as in rowForMessage because plugin mappings are subject to it too.
    if (topic.includes("/_testing_") || payload.length === 0) return NOTHING;
    const builtIn = rowForMessage(topic, payload, nowMs, this.rowOptions);
    // Without plugins (the usual case) no lists to build: this runs for every message.
    if (this.plugins.length === 0) {
      if ("table" in builtIn) return { rows: [builtIn], invalid: NONE_INVALID };
      return "invalid" in builtIn ? { rows: [], invalid: [builtIn.invalid] } : NOTHING;
    }
    const rows: TableRow[] = [];
    const invalid: string[] = [];
    if ("table" in builtIn) rows.push(builtIn);
    else if ("invalid" in builtIn) invalid.push(builtIn.invalid);
    for (const sink of this.plugins) {
      const filters = typeof sink.topic === "string" ? [sink.topic] : sink.topic;
      if (!filters.some((f) => topicMatchesFilter(f, topic))) continue;
      try {
        const parsed = sink.parse(topic, payload, nowMs);
        if (parsed === null) continue;
        for (const row of Array.isArray(parsed) ? parsed : [parsed]) rows.push({ table: sink.table, row });
      } catch (e) {
        invalid.push(`${sink.table}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return rows.length === 0 && invalid.length === 0 ? NOTHING : { rows, invalid };
  }
}
