/**
 * Loads every discovered plugin into a fresh `PluginRegistry`. A plugin that throws — while its
 * file is evaluated or inside `register` — is recorded with its name, file, position and message
 * and skipped; nothing it registered before throwing is kept, and other plugins and commands are
 * unaffected (the original prints "<file> plugin load error: …" and carries on).
 */
import path from "node:path";
import type { JobCommand } from "../jobs/job-command";
import type { PluginSink } from "../leader/streaming/sinks";
import { checkAutomationName, checkJobName, jobCommandFromDefinition } from "./define-job";
import { type DiscoverOptions, discoverPluginSources, type PackageJson, type PluginSource } from "./discover";
import { emptyContribution, type PluginContribution, PluginRegistry } from "./registry";
import {
  AUTOMATION_FAMILIES,
  type AutomationFamily,
  type PluginApi,
  type PluginInfo,
  type PluginJobDefinition,
  type PluginLib,
  type PluginLoadError,
  type PluginModule,
} from "./types";

/** The original's placeholder for metadata a plugin does not give. */
export const UNKNOWN = "Unknown";

export interface LoadPluginsOptions extends DiscoverOptions {
  /** Evaluates a plugin file; default: Node's `require`. */
  requireModule?: (file: string) => unknown;
  /** Homepage of a drop-in file without one (the original links to the unit's `/unit_api/plugins/installed/<file>`). */
  homepageFor?: (fileName: string) => string;
}

function lib(): PluginLib {
  // Getters: a plugin that never touches a class does not pay for loading it.
  return {
    get BackgroundJob() {
      return (require("../jobs/background-job") as typeof import("../jobs/background-job")).BackgroundJob;
    },
    get runInForeground() {
      return (require("../jobs/job-command") as typeof import("../jobs/job-command")).runInForeground;
    },
    get parseBool() {
      return (require("../jobs/job-command") as typeof import("../jobs/job-command")).parseBool;
    },
    get parseFloatOption() {
      return (require("../jobs/job-command") as typeof import("../jobs/job-command")).parseFloatOption;
    },
    get parseIntOption() {
      return (require("../jobs/job-command") as typeof import("../jobs/job-command")).parseIntOption;
    },
    get parseFloatRange() {
      return (require("../jobs/job-command") as typeof import("../jobs/job-command")).parseFloatRange;
    },
    get UsageError() {
      return (require("../cli/exit") as typeof import("../cli/exit")).UsageError;
    },
    get PyInt() {
      return (require("../util/python-format") as typeof import("../util/python-format")).PyInt;
    },
    get DosingAutomationJob() {
      return (require("../automations/dosing/base") as typeof import("../automations/dosing/base")).DosingAutomationJob;
    },
    get TemperatureAutomationJob() {
      return (require("../automations/temperature/base") as typeof import("../automations/temperature/base")).TemperatureAutomationJob;
    },
    get LedAutomationJob() {
      return (require("../automations/led/base") as typeof import("../automations/led/base")).LedAutomationJob;
    },
    get automationEvent() {
      return (require("../automations/events") as typeof import("../automations/events")).automationEvent;
    },
  };
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** package.json `author` is a string or `{ name }`. */
function authorOf(pkg: PackageJson): string | undefined {
  if (typeof pkg.author === "object" && pkg.author !== null) return text((pkg.author as { name?: unknown }).name);
  return text(pkg.author);
}

function isJobCommand(job: PluginJobDefinition | JobCommand): job is JobCommand {
  return typeof (job as JobCommand).run === "function";
}

/** The api handed to one plugin's `register`; everything lands in `into`. */
function apiFor(pluginName: string, baseDir: string, into: PluginContribution): PluginApi {
  const addSink = (sink: PluginSink) => {
    if (!sink || typeof sink.parse !== "function" || typeof sink.table !== "string") {
      throw new Error("registerDbSink expects { topic, table, parse(topic, payload, nowMs) }");
    }
    into.sinks.push(sink);
  };
  return {
    pluginName,
    lib: lib(),
    registerJob(job) {
      checkJobName(job?.name);
      // Plain-JS plugins may leave out what TypeScript would have required.
      if (isJobCommand(job)) into.jobs.push({ plugin: pluginName, command: { ...job, summary: job.summary ?? "", options: job.options ?? [] } });
      else if (typeof job.create === "function") into.jobs.push({ plugin: pluginName, command: jobCommandFromDefinition(job, pluginName) });
      else throw new Error(`registerJob("${job.name}") needs create(deps, input) or run(input)`);
    },
    registerAutomation(family, name, factory) {
      if (!(AUTOMATION_FAMILIES as readonly string[]).includes(family)) {
        throw new Error(`unknown automation family ${JSON.stringify(family)}; expected one of ${AUTOMATION_FAMILIES.join(", ")}`);
      }
      checkAutomationName(name);
      if (typeof factory !== "function") throw new Error(`registerAutomation("${family}", "${name}") needs a factory function`);
      into.automations.push({ family: family as AutomationFamily, name, plugin: pluginName, factory: factory as never });
    },
    registerDbSink: addSink,
    registerSourceToSink: addSink,
    registerUiDescriptors(dir) {
      into.uiDirs.push(path.resolve(baseDir, dir));
    },
  };
}

/** `file:line:col` of the first stack frame inside the plugin's own file, if any. */
function positionIn(err: unknown, file: string): { line?: number; column?: number } {
  const stack = err instanceof Error ? (err.stack ?? "") : "";
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const frame = new RegExp(`${escaped}:(\\d+)(?::(\\d+))?`).exec(stack);
  if (!frame) return {};
  return { line: Number(frame[1]), ...(frame[2] ? { column: Number(frame[2]) } : {}) };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `Error: ${String(err)}`;
}

function loadOne(source: PluginSource, options: LoadPluginsOptions, registry: PluginRegistry): void {
  const fallbackName = source.kind === "file" ? source.stem : source.packageName;
  let name = fallbackName;
  try {
    if (source.file.endsWith(".mjs")) {
      throw new Error("ES modules (.mjs) cannot be loaded synchronously; compile the plugin to CommonJS (.js)");
    }
    const requireModule = options.requireModule ?? ((f: string) => require(f) as unknown);
    const mod = (requireModule(source.file) ?? {}) as PluginModule & { default?: PluginModule };
    // A TypeScript plugin compiled with `export default { … }` puts everything under `default`.
    const plugin: PluginModule = mod.register === undefined && mod.default !== undefined ? mod.default : mod;
    let info: PluginInfo;
    if (source.kind === "file") {
      name = text(plugin.pluginName) ?? source.stem;
      const fileName = path.basename(source.file);
      info = {
        name,
        version: text(plugin.version) ?? UNKNOWN,
        description: text(plugin.summary) ?? UNKNOWN,
        homepage: text(plugin.homepage) ?? options.homepageFor?.(fileName) ?? UNKNOWN,
        source: `plugins/${fileName}`,
        author: text(plugin.author) ?? UNKNOWN,
      };
    } else {
      const pkg = source.packageJson;
      name = text(pkg.name) ?? source.packageName;
      info = {
        name,
        version: text(pkg.version) ?? UNKNOWN,
        description: text(pkg.description) ?? UNKNOWN,
        homepage: text(pkg.homepage) ?? UNKNOWN,
        source: `npm:${source.packageName}`,
        author: authorOf(pkg) ?? UNKNOWN,
      };
    }
    const contribution = emptyContribution();
    if (plugin.register !== undefined) {
      if (typeof plugin.register !== "function") throw new TypeError("the plugin's `register` export is not a function");
      const baseDir = source.kind === "file" ? path.dirname(source.file) : source.packageDir;
      plugin.register(apiFor(name, baseDir, contribution));
    }
    registry.add(info, contribution);
  } catch (err) {
    const error: PluginLoadError = { name, file: source.file, ...positionIn(err, source.file), message: errorText(err) };
    registry.reportError(error);
  }
}

export function loadPlugins(options: LoadPluginsOptions): PluginRegistry {
  const registry = new PluginRegistry();
  for (const source of discoverPluginSources(options)) loadOne(source, options, registry);
  return registry;
}

/** One line per failure: `<file>:<line>:<col> plugin load error: TypeError: …` (the original's words). */
export function formatPluginLoadError(e: PluginLoadError): string {
  const where = e.line !== undefined ? `${e.file}:${e.line}${e.column !== undefined ? `:${e.column}` : ""}` : e.file;
  return `${where} plugin load error: ${e.message}`;
}
