/**
 * `pio run [--config-override SECTION KEY VALUE]… <job> [options]`: builds one subcommand per
 * catalog entry, with the job's own options, and runs it on this unit's composed context.
 */
import { Command, Option } from "commander";
import { type CatalogEntry, mergeCatalogs } from "../jobs/catalog";
import type { JobCommand, JobOption } from "../jobs/job-command";
import { UnitContext } from "../jobs/unit-context";
import { UsageError } from "./exit";

export interface RunCommandDeps {
  env: NodeJS.ProcessEnv;
  /** Triples taken from `--config-override` by `extractConfigOverrides`. */
  configOverrides: Array<[string, string, string]>;
  cwd: string;
  catalog: CatalogEntry[];
  /**
   * Plugin jobs, laid over `catalog`. Default: load this unit's plugins (none with SKIP_PLUGINS),
   * reporting the ones that fail on stderr.
   */
  pluginCatalog?: () => CatalogEntry[];
  /** Called with the exit code when a job ends (the process exits with it). */
  setExitCode(code: number): void;
}

function addJobOption(cmd: Command, spec: JobOption): void {
  const option = new Option(spec.flags, spec.description);
  if (spec.parse) option.argParser((value: string) => spec.parse!(value));
  if (spec.defaultValue !== undefined) option.default(spec.defaultValue);
  cmd.addOption(option);
}

/** `--key value` pairs commander did not recognise, for automations' free keyword arguments. */
function extraOptions(unknown: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < unknown.length; i++) {
    const token = unknown[i];
    if (!token.startsWith("--")) throw new UsageError(`Got unexpected extra argument (${token})`);
    const [key, inline] = token.slice(2).split("=", 2);
    const value = inline ?? unknown[++i];
    if (value === undefined) throw new UsageError(`Option '--${key}' requires a value.`);
    out[key.replace(/-/g, "_")] = value;
  }
  return out;
}

function buildJobCommand(job: JobCommand, deps: RunCommandDeps, parentOverrides: () => Array<[string, string, string]>, embedded: () => boolean): Command {
  const cmd = new Command(job.name).description(job.summary);
  if (job.arguments) cmd.arguments(job.arguments);
  for (const spec of job.options) addJobOption(cmd, spec);
  if (job.allowExtraOptions) cmd.allowUnknownOption(true).allowExcessArguments(true);
  for (const sub of job.subcommands ?? []) cmd.addCommand(buildJobCommand(sub, deps, parentOverrides, embedded));
  cmd.action(async (...actionArgs: unknown[]) => {
    const self = actionArgs[actionArgs.length - 1] as Command;
    const options = self.opts();
    const positional = self.args.filter((a) => !a.startsWith("--"));
    const extra = job.allowExtraOptions ? extraOptions(self.args.slice(self.registeredArguments.length)) : {};
    const ctx = new UnitContext({
      env: deps.env,
      cwd: deps.cwd,
      configOverrides: parentOverrides(),
      embeddedBroker: embedded(),
    });
    // The original's exit protocol: SIGINT (what `pio kill` sends), SIGTERM and SIGHUP stop the
    // job gracefully. Installed before the job starts, so a signal during start-up is not fatal.
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const [sig, text] of [["SIGINT", "Interrupt"], ["SIGTERM", "Terminated"], ["SIGHUP", "Hangup"]] as const) {
      const handler = () => ctx.requestStop(`signal ${text}`);
      handlers.set(sig, handler);
      process.on(sig, handler);
    }
    try {
      deps.setExitCode(await job.run({ ctx, options, extra, args: positional }));
    } finally {
      for (const [sig, handler] of handlers) process.off(sig, handler);
      await ctx.close();
    }
  });
  return cmd;
}

function defaultPluginCatalog(deps: RunCommandDeps): CatalogEntry[] {
  const plugins = require("../plugins") as typeof import("../plugins");
  const registry = plugins.loadPlugins({ env: deps.env, cwd: deps.cwd });
  for (const e of registry.errors) process.stderr.write(`${plugins.formatPluginLoadError(e)}\n`);
  return plugins.pluginCatalogEntries(registry);
}

export function registerRunCommand(program: Command, deps: RunCommandDeps): Command {
  const run = program
    .command("run")
    .description("Run a job. Override the config with, example: pio run --config-override stirring.config pwm_hz 100 stirring")
    .argument("[job]")
    .option("--config-override <section> <param> <value>", "Temporarily override a config value (repeatable)")
    .option(
      "--embedded-broker",
      "start an in-process MQTT broker when none answers at [mqtt] broker_address (for laptops and CI)",
    );
  const overrides = () => deps.configOverrides;
  const embedded = () => Boolean(run.opts().embeddedBroker) || deps.env.PIOREACTOR_EMBEDDED_BROKER === "1";
  for (const entry of mergeCatalogs(deps.catalog, (deps.pluginCatalog ?? (() => defaultPluginCatalog(deps)))())) {
    // A placeholder keeps help listings cheap; the real command replaces it on first use.
    const lazy = new Command(entry.name).description(entry.summary).allowUnknownOption(true).allowExcessArguments(true);
    lazy.helpOption(false);
    lazy.action(async () => {
      const job = entry.load();
      const real = buildJobCommand(job, deps, overrides, embedded);
      real.exitOverride();
      for (const sub of real.commands) sub.exitOverride();
      const argv = lazy.parent!.args.slice(lazy.parent!.args.indexOf(entry.name) + 1);
      await real.parseAsync(argv, { from: "user" });
    });
    run.addCommand(lazy);
  }
  run.action((job: string | undefined) => {
    if (job === undefined) {
      run.outputHelp();
      return;
    }
    const known = run.commands.map((c) => c.name()).sort();
    throw new UsageError(`No such job '${job}'. Known jobs: ${known.join(", ")}.`);
  });
  return run;
}
