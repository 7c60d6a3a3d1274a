/**
 * UI descriptors: YAML files that tell the UI which jobs, settings collections, automations and
 * charts exist. Read from the built-in set shipped with pioreactor-ts, then
 * `$DOT_PIOREACTOR/ui/<kind>/`, then `$DOT_PIOREACTOR/plugins/ui/<kind>/`, each folder in file-name
 * order; a later file with the same key replaces an earlier one. A bad file is reported and
 * skipped, never failing the whole list. Every field is emitted, nulls included.
 */
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import type { FileMemo } from "./file-memo";

export type DescriptorKind = "jobs" | "settings" | "charts" | "automations/temperature" | "automations/dosing" | "automations/led";

export const AUTOMATION_TYPES = ["temperature", "dosing", "led"] as const;

/** The built-in descriptors, found both from `src/` (tests) and from `dist/src/` (installed). */
export function defaultBuiltinDescriptorsDir(): string | null {
  for (const candidate of [path.join(__dirname, "ui-descriptors"), path.join(__dirname, "..", "..", "..", "..", "src", "leader", "web", "ui-descriptors")]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

class DescriptorError extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, required = false): string | null {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new DescriptorError(`missing required field '${key}'`);
    return null;
  }
  if (typeof v !== "string") throw new DescriptorError(`'${key}' must be a string`);
  return v;
}

function bool(o: Obj, key: string, fallback?: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new DescriptorError(`missing required field '${key}'`);
    return fallback;
  }
  if (typeof v !== "boolean") throw new DescriptorError(`'${key}' must be true or false`);
  return v;
}

function num(o: Obj, key: string): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "number") throw new DescriptorError(`'${key}' must be a number`);
  return v;
}

function onlyKnown(o: Obj, known: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new DescriptorError(`unknown field '${k}' in ${what}`);
}

const SETTING_FIELDS = ["key", "type", "display", "description", "default", "unit", "label", "editable", "min", "max"] as const;

function publishedSetting(raw: unknown): Obj {
  if (!isObj(raw)) throw new DescriptorError("each published setting must be a mapping");
  onlyKnown(raw, SETTING_FIELDS, "a published setting");
  const type = str(raw, "type", true);
  if (!["numeric", "boolean", "string", "json"].includes(type!)) throw new DescriptorError(`setting type '${type}' is not numeric, boolean, string or json`);
  const s = {
    key: str(raw, "key", true),
    type,
    display: bool(raw, "display"),
    description: str(raw, "description"),
    default: raw.default ?? null,
    unit: str(raw, "unit"),
    label: str(raw, "label"),
    editable: bool(raw, "editable", true),
    min: num(raw, "min"),
    max: num(raw, "max"),
  };
  if (s.min !== null && s.max !== null && s.min > s.max) throw new DescriptorError(`setting '${s.key}' has min > max`);
  if (s.display && !s.label) throw new DescriptorError(`displayed setting '${s.key}' needs a label`);
  return s;
}

function publishedSettings(raw: unknown): Obj[] {
  if (!Array.isArray(raw)) throw new DescriptorError("'published_settings' must be a list");
  const settings = raw.map(publishedSetting);
  const keys = settings.map((s) => s.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw new DescriptorError(`duplicate setting key '${dup}'`);
  return settings;
}

function jobDescriptor(raw: Obj): Obj {
  onlyKnown(raw, ["display_name", "job_name", "display", "published_settings", "source", "description", "subtext", "is_testing"], "a job descriptor");
  return {
    display_name: str(raw, "display_name", true),
    job_name: str(raw, "job_name", true),
    display: bool(raw, "display"),
    published_settings: publishedSettings(raw.published_settings),
    source: str(raw, "source"),
    description: str(raw, "description"),
    subtext: str(raw, "subtext"),
    is_testing: bool(raw, "is_testing", false),
  };
}

function settingsDescriptor(raw: Obj): Obj {
  onlyKnown(raw, ["key", "display_name", "display", "published_settings", "source", "description", "subtext"], "a settings collection");
  return {
    key: str(raw, "key", true),
    display_name: str(raw, "display_name", true),
    display: bool(raw, "display"),
    published_settings: publishedSettings(raw.published_settings),
    source: str(raw, "source"),
    description: str(raw, "description"),
    subtext: str(raw, "subtext"),
  };
}

function automationField(raw: unknown): Obj {
  if (!isObj(raw)) throw new DescriptorError("each automation field must be a mapping");
  onlyKnown(raw, ["key", "default", "label", "disabled", "required", "unit", "type", "options"], "an automation field");
  if (!("default" in raw)) throw new DescriptorError("automation field needs a 'default' (it may be null)");
  const type = str(raw, "type") ?? "numeric";
  if (!["numeric", "string", "select", "boolean"].includes(type)) throw new DescriptorError(`field type '${type}' is not numeric, string, select or boolean`);
  const options = raw.options ?? null;
  if (options !== null && !(Array.isArray(options) && options.every((o) => typeof o === "string"))) {
    throw new DescriptorError("'options' must be a list of strings");
  }
  return {
    key: str(raw, "key", true),
    default: raw.default ?? null,
    label: str(raw, "label", true),
    disabled: bool(raw, "disabled", false),
    required: bool(raw, "required", true),
    unit: str(raw, "unit"),
    type,
    options,
  };
}

function automationDescriptor(raw: Obj): Obj {
  onlyKnown(raw, ["display_name", "automation_name", "description", "source", "fields"], "an automation descriptor");
  const fields = raw.fields ?? [];
  if (!Array.isArray(fields)) throw new DescriptorError("'fields' must be a list");
  return {
    display_name: str(raw, "display_name", true),
    automation_name: str(raw, "automation_name", true),
    description: str(raw, "description", true),
    source: str(raw, "source"),
    fields: fields.map(automationField),
  };
}

const INTERPOLATIONS = ["basis", "bundle", "cardinal", "catmullRom", "linear", "none", "monotoneX", "monotoneY", "natural", "step", "stepAfter", "stepBefore"];

function chartDescriptor(raw: Obj): Obj {
  onlyKnown(
    raw,
    ["chart_key", "data_source", "title", "source", "y_axis_label", "fixed_decimals", "down_sample", "mqtt_topic", "lookback", "data_source_column", "payload_key", "y_transformation", "y_axis_domain", "interpolation"],
    "a chart descriptor",
  );
  const fixed = raw.fixed_decimals;
  if (typeof fixed !== "number" || !Number.isInteger(fixed)) throw new DescriptorError("'fixed_decimals' must be a whole number");
  const interpolation = str(raw, "interpolation") ?? "stepAfter";
  if (!INTERPOLATIONS.includes(interpolation)) throw new DescriptorError(`unknown interpolation '${interpolation}'`);
  const topic = raw.mqtt_topic ?? null;
  if (topic !== null && typeof topic !== "string" && !(Array.isArray(topic) && topic.every((t) => typeof t === "string"))) {
    throw new DescriptorError("'mqtt_topic' must be a string or a list of strings");
  }
  const lookback = raw.lookback ?? 100_000;
  if (typeof lookback !== "number" && typeof lookback !== "string") throw new DescriptorError("'lookback' must be a number or an expression");
  const domain = raw.y_axis_domain ?? null;
  if (domain !== null && !(Array.isArray(domain) && domain.every((d) => typeof d === "number"))) throw new DescriptorError("'y_axis_domain' must be a list of numbers");
  return {
    chart_key: str(raw, "chart_key", true),
    data_source: str(raw, "data_source", true),
    title: str(raw, "title", true),
    source: str(raw, "source", true),
    y_axis_label: str(raw, "y_axis_label", true),
    fixed_decimals: fixed,
    down_sample: bool(raw, "down_sample", true),
    mqtt_topic: topic,
    lookback,
    data_source_column: str(raw, "data_source_column"),
    payload_key: str(raw, "payload_key"),
    y_transformation: "y_transformation" in raw ? str(raw, "y_transformation") : "(y) => y",
    y_axis_domain: domain,
    interpolation,
  };
}

const DECODERS: Record<string, { decode: (raw: Obj) => Obj; key: string }> = {
  jobs: { decode: jobDescriptor, key: "job_name" },
  settings: { decode: settingsDescriptor, key: "key" },
  charts: { decode: chartDescriptor, key: "chart_key" },
  automations: { decode: automationDescriptor, key: "automation_name" },
};

function yamlFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface DescriptorSources {
  builtinDir: string | null;
  dotPioreactor: string;
  /** Plugin-registered folders laid out like `plugins/ui/`, read last. */
  pluginDirs?: readonly string[];
  report?: (message: string) => void;
  /** Parsed YAML kept between calls while the file is unchanged. */
  parsedFiles?: FileMemo<unknown>;
}

/** All descriptors of one kind, later folders overriding earlier ones by key. */
export function loadDescriptors(kind: DescriptorKind, sources: DescriptorSources): Obj[] {
  const decoder = DECODERS[kind.split("/")[0]];
  const folders = [
    ...(sources.builtinDir ? [path.join(sources.builtinDir, kind)] : []),
    path.join(sources.dotPioreactor, "ui", kind),
    path.join(sources.dotPioreactor, "plugins", "ui", kind),
    ...(sources.pluginDirs ?? []).map((dir) => path.join(dir, kind)),
  ];
  const byKey = new Map<string, Obj>();
  for (const file of folders.flatMap(yamlFiles)) {
    try {
      const raw = sources.parsedFiles ? sources.parsedFiles.get(file, (text) => parseYaml(text)) : parseYaml(fs.readFileSync(file, "utf8"));
      if (!isObj(raw)) throw new DescriptorError("the file must hold one mapping");
      const descriptor = decoder.decode(raw);
      const key = String(descriptor[decoder.key]);
      // Last wins, keeping the position of the first (a Python dict assignment does the same).
      byKey.set(key, descriptor);
    } catch (e) {
      sources.report?.(`Skipped UI descriptor ${file}: ${(e as Error).message}`);
    }
  }
  return [...byKey.values()];
}
