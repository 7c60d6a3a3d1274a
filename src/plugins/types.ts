/**
 * The contract between pioreactor-ts and its plugins (jobs-hardware spec §6).
 *
 * A plugin is a CommonJS module — a drop-in `.js` file in the plugins folder or an npm package
 * that declares a `"pioreactor"` field in its package.json — exporting metadata and
 * `register(api)`. Registration is explicit (the original registers through import side effects
 * and subclass hooks): whatever `register` adds is kept only if it returns without throwing.
 *
 * Plugins receive the runtime classes through `api.lib` rather than importing our files, so a
 * drop-in file works wherever pioreactor-ts is installed.
 */
import type { BackgroundJob, JobDeps } from "../jobs/background-job";
import type { JobCommand, JobOption, JobRunInput } from "../jobs/job-command";
import type { PluginSink } from "../leader/streaming/sinks";

/** What a plugin module exports (all metadata optional, as the original's `__plugin_*__` globals). */
export interface PluginModule {
  pluginName?: string;
  version?: string;
  summary?: string;
  author?: string;
  homepage?: string;
  register?(api: PluginApi): void;
}

export const AUTOMATION_FAMILIES = ["dosing", "led", "temperature"] as const;
export type AutomationFamily = (typeof AUTOMATION_FAMILIES)[number];

/**
 * Builds an automation job, the same shape as the built-in automation factories
 * (`src/automations/commands.ts`): the family's context (pumps, LED setter, heater…) is supplied by
 * the `*_automation` command; `args` are the `--key value` pairs as strings.
 */
export type AutomationFactory<C = unknown> = (deps: JobDeps, context: C, args: Record<string, string>) => BackgroundJob;

/** A job defined by its job class; the plugin API turns it into a `pio run` command. */
export interface PluginJobDefinition {
  name: string;
  summary?: string;
  options?: JobOption[];
  /** Long-running jobs use experiment `$experiment` (like `monitor`). */
  longRunning?: boolean;
  /**
   * Builds the (unstarted) job. Pass `source` as `BackgroundJobOptions.source` so its log lines
   * go to `logs/<plugin name>/<level>`, as the original's `BackgroundJobContrib` does.
   */
  create(deps: JobDeps, input: JobRunInput & { source: string }): BackgroundJob | Promise<BackgroundJob>;
}

/** The runtime a plugin builds on, loaded only when a plugin touches it. */
export interface PluginLib {
  readonly BackgroundJob: typeof import("../jobs/background-job").BackgroundJob;
  readonly runInForeground: typeof import("../jobs/job-command").runInForeground;
  readonly parseBool: typeof import("../jobs/job-command").parseBool;
  readonly parseFloatOption: typeof import("../jobs/job-command").parseFloatOption;
  readonly parseIntOption: typeof import("../jobs/job-command").parseIntOption;
  readonly parseFloatRange: typeof import("../jobs/job-command").parseFloatRange;
  readonly UsageError: typeof import("../cli/exit").UsageError;
  readonly PyInt: typeof import("../util/python-format").PyInt;
  /** Base classes for `registerAutomation` (the original's `*AutomationJobContrib`). */
  readonly DosingAutomationJob: typeof import("../automations/dosing/base").DosingAutomationJob;
  readonly TemperatureAutomationJob: typeof import("../automations/temperature/base").TemperatureAutomationJob;
  readonly LedAutomationJob: typeof import("../automations/led/base").LedAutomationJob;
  /** `AutomationEvent` for an automation's `execute()` result, e.g. `automationEvent("NoEvent", "why")`. */
  readonly automationEvent: typeof import("../automations/events").automationEvent;
}

export interface PluginApi {
  /** The plugin's name: the log source of its jobs. */
  readonly pluginName: string;
  readonly lib: PluginLib;
  /** A `pio run <name>` command; replaces a built-in or earlier plugin job of the same name. */
  registerJob(job: PluginJobDefinition | JobCommand): void;
  /** `pio run <family>_automation --automation-name <name>` finds it. */
  registerAutomation<C = unknown>(family: AutomationFamily, name: string, factory: AutomationFactory<C>): void;
  /** Extra MQTT → database mapping for `mqtt_to_db_streaming` (the original's `register_source_to_sink`). */
  registerDbSink(sink: PluginSink): void;
  /** Alias of `registerDbSink`, under the original's name. */
  registerSourceToSink(sink: PluginSink): void;
  /**
   * A folder laid out like `$DOT_PIOREACTOR/plugins/ui/` (`jobs/*.yaml`, `automations/<family>/*.yaml`,
   * `settings/`, `charts/`), relative to the plugin's file or package.
   */
  registerUiDescriptors(dir: string): void;
}

/** One row of `pio plugins list --json`, in the original's field order. */
export interface PluginInfo {
  name: string;
  version: string;
  description: string;
  homepage: string;
  /** `plugins/<file>` for drop-in files, `npm:<package>` for packages (the original: `entry_points`). */
  source: string;
  author: string;
}

/** A plugin that could not be loaded: reported, then skipped. */
export interface PluginLoadError {
  /** The plugin's name as far as it is known (the file stem or the package name). */
  name: string;
  file: string;
  /** Where in `file` it failed, when the error's stack points into it. */
  line?: number;
  column?: number;
  /** `TypeError: x is not a function`. */
  message: string;
}

export interface AutomationRegistration {
  family: AutomationFamily;
  name: string;
  plugin: string;
  factory: AutomationFactory;
}

export interface JobRegistration {
  plugin: string;
  command: JobCommand;
}
