/**
 * `pio serve`'s side of `[pio_serve] host_jobs = true`: the launcher that runs jobs in this
 * process, the unit's hardware opened once for all of them (as a `pio run` child would pick it:
 * the Pi's drivers on a Pi, else the simulator), and this daemon's entry in the list `pio kill`
 * reads to tell hosted jobs from child processes.
 */
import { builtinCatalog, type CatalogEntry, mergeCatalogs } from "../../../jobs/catalog";
import { JOB_HOSTS_CACHE, JobHosts } from "../../../jobs/job-hosts";
import type { KeyValueCache } from "../../../jobs/local-storage";
import { UnitContext } from "../../../jobs/unit-context";
import type { Clock } from "../../../util/clock";
import { scrubJobEnv } from "../job-launcher";
import { processUncaughtErrors, type UncaughtErrorSource } from "./fault-isolation";
import { HostedJobLauncher } from "./hosted-job-launcher";

export { JOB_HOSTS_CACHE };

export interface HostJobsOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  clock: Clock;
  /** The unit's intermittent cache table `JOB_HOSTS_CACHE`. */
  hostsCache: KeyValueCache;
  log(line: string): void;
  /** Default: built-ins with this unit's plugins, loaded at every start as `pio run` does. */
  catalog?: () => CatalogEntry[];
  uncaughtErrors?: UncaughtErrorSource;
  /** Default: print it and exit 1, as Node would have. */
  onUnownedError?: (error: unknown) => void;
  pid?: number;
}

export interface HostedJobs {
  launcher: HostedJobLauncher;
  close(): Promise<void>;
}

function catalogWithPlugins(env: NodeJS.ProcessEnv, cwd: string, log: (line: string) => void): CatalogEntry[] {
  const plugins = require("../../../plugins") as typeof import("../../../plugins");
  const registry = plugins.loadPlugins({ env, cwd });
  for (const e of registry.errors) log(plugins.formatPluginLoadError(e));
  return mergeCatalogs(builtinCatalog(), plugins.pluginCatalogEntries(registry));
}

export function hostJobs(opts: HostJobsOptions): HostedJobs {
  const pid = opts.pid ?? process.pid;
  // The hardware context reads the environment a child would see, so it picks the same backend.
  const hardwareContext = new UnitContext({ env: scrubJobEnv(opts.env, {}), cwd: opts.cwd, clock: opts.clock });
  const launcher = new HostedJobLauncher({
    serverEnv: opts.env,
    cwd: opts.cwd,
    clock: opts.clock,
    catalog: opts.catalog ?? (() => catalogWithPlugins(scrubJobEnv(opts.env, {}), opts.cwd, opts.log)),
    hardware: () => hardwareContext.hardware(),
    uncaughtErrors: opts.uncaughtErrors ?? processUncaughtErrors,
    onUnownedError:
      opts.onUnownedError ??
      ((e) => {
        process.stderr.write(`pio serve: uncaught error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(1);
      }),
    log: opts.log,
  });
  const hosts = new JobHosts(opts.hostsCache);
  hosts.add(pid);
  return {
    launcher,
    async close() {
      await launcher.close();
      hosts.remove(pid);
      await hardwareContext.close();
    },
  };
}
