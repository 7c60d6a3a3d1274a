/**
 * `pio run [--config-override SECTION KEY VALUE]… <job> [options]`: builds one subcommand per
 * catalog entry, with the job's own options, and runs it on this unit's composed context.
 */
import { Command } from "commander";
import { type CatalogEntry, mergeCatalogs } from "../jobs/catalog";
import { type JobInvocation, parseAndInvokeJob } from "../jobs/job-argv";
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

/** `pio run`'s way of running a parsed job: on this unit's composed context, stopped by signals. */
function runInThisProcess(deps: RunCommandDeps, parentOverrides: () => Array<[string, string, string]>, embedded: () => boolean): JobInvocation {
  return async (job, input) => {
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
      deps.setExitCode(await job.run({ ctx, ...input }));
    } finally {
      for (const [sig, handler] of handlers) process.off(sig, handler);
      await ctx.close();
    }
  };
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
      const argv = lazy.parent!.args.slice(lazy.parent!.args.indexOf(entry.name) + 1);
      await parseAndInvokeJob(entry.load(), argv, runInThisProcess(deps, overrides, embedded));
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
