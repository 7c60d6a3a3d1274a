/**
 * `pio kill`, `pio jobs list|info|set|purge`, `pio logs` and `pio log`: the local job registry,
 * job settings over MQTT and the unit's log file, with the original's flags, texts and exit codes.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import type { Command } from "commander";
import { JOB_HOSTS_CACHE, JobHosts } from "../jobs/job-hosts";
import { MqttLogSink } from "../jobs/logger";
import type { JobRecord, JobRegistry } from "../jobs/registry";
import type { UnitContext } from "../jobs/unit-context";
import { setCommandTopic } from "../pubsub/topics";
import { AbortError, UsageError } from "./exit";

export interface JobsCommandDeps {
  context(): UnitContext;
  print(line: string): void;
  /** Sends SIGINT to the given pids (the original shells out to `kill -2`). */
  signal(pids: number[]): void;
  /** Runs `pio run led_intensity --A 0 --B 0 --C 0 --D 0` (how the original stops LED "jobs"). */
  turnOffLeds(): Promise<boolean>;
}

interface JobSelector {
  jobId?: number;
  jobName?: string;
}

function secondsOnly(ts: string | null): string {
  if (!ts) return "";
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})/.exec(ts);
  return m ? m[1] : ts;
}

export function formatJobLine(job: JobRecord): string {
  return (
    `[job_id=${job.job_id}] ${job.job_name} experiment=${job.experiment}, source=${job.job_source || "unknown"}, ` +
    `started_at=${secondsOnly(job.started_at)}, ended_at=${secondsOnly(job.ended_at) || "still running"}`
  );
}

function resolveJobId(registry: JobRegistry, jobId: number | undefined, jobName: string | undefined, print: (l: string) => void): number | undefined {
  if (jobId === undefined && jobName === undefined) {
    print("Provide --job-id or --job-name.");
    return undefined;
  }
  if (jobId !== undefined) return jobId;
  const running = registry.runningJobId(jobName!);
  if (running === undefined) print(`No running job found with name ${jobName}.`);
  return running;
}

function intOption(name: string) {
  return (v: string) => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new UsageError(`Invalid value for '${name}': '${v}' is not a valid integer.`);
    return Number(v);
  };
}

/** How `pio kill` reaches jobs hosted inside a `pio serve` daemon, whose pid must not be signalled. */
export interface HostedJobStops {
  isJobHost(pid: number): boolean;
  /** Publishes `$state/set` `disconnected` to each job, as the leader's stop route does. */
  askToStop(jobs: JobRecord[]): Promise<void>;
}

/** Stops matching jobs and returns how many were signalled, as the original's `kill_jobs`. */
export async function killJobs(
  registry: JobRegistry,
  filter: { job_name?: string; experiment?: string; job_source?: string; job_id?: number },
  allJobs: boolean,
  deps: Pick<JobsCommandDeps, "signal" | "turnOffLeds"> & { hosted?: HostedJobStops },
): Promise<number> {
  let count = 0;
  const pids: number[] = [];
  const hosted: JobRecord[] = [];
  for (const job of registry.jobsToKill(filter, allJobs)) {
    if (job.job_name === "led_intensity") {
      if (await deps.turnOffLeds()) {
        count++;
        registry.setNotRunning(job.job_id);
      }
    } else if (deps.hosted?.isJobHost(job.pid)) {
      // A SIGINT to this pid would stop the daemon and every job it hosts.
      hosted.push(job);
    } else if (job.pid !== process.pid) {
      // A job hosted in this very process (tests, `pio serve`) is not signalled from here.
      pids.push(job.pid);
    }
  }
  if (pids.length > 0) deps.signal(pids);
  if (hosted.length > 0) await deps.hosted!.askToStop(hosted);
  return count + pids.length + hosted.length;
}

/** `pio kill`'s way to hosted jobs: the daemons listed in the unit's cache, and `$state/set` over MQTT. */
export function hostedJobStops(ctx: UnitContext): HostedJobStops {
  const hosts = new JobHosts(ctx.intermittentCache(JOB_HOSTS_CACHE));
  return {
    isJobHost: (pid) => hosts.isHost(pid),
    async askToStop(jobs) {
      const client = await ctx.connect({ clientIdBase: `pio-kill-${ctx.unit}`, keepalive: 60, clean: true });
      try {
        for (const job of jobs) {
          await client.publish(setCommandTopic(ctx.unit, job.experiment, job.job_name, "$state"), "disconnected", { qos: 1 });
        }
      } finally {
        await client.end();
      }
    },
  };
}

export function registerJobsCommands(program: Command, deps: JobsCommandDeps): void {
  program
    .command("kill")
    .description("stop job(s).")
    .option("--job-name <name>")
    .option("--experiment <experiment>")
    .option("--job-source <source>")
    .option("--job-id <id>", "", intOption("--job-id"))
    .option("--all-jobs", "kill all Pioreactor jobs running")
    .action(async (o: { jobName?: string; experiment?: string; jobSource?: string; jobId?: number; allJobs?: boolean }) => {
      if (!(o.jobName || o.experiment || o.jobSource || o.allJobs || o.jobId)) throw new AbortError();
      const ctx = deps.context();
      try {
        const count = await killJobs(
          ctx.registry(),
          { job_name: o.jobName, experiment: o.experiment, job_source: o.jobSource, job_id: o.jobId },
          Boolean(o.allJobs),
          { ...deps, hosted: hostedJobStops(ctx) },
        );
        deps.print(`Killed ${count} job${count !== 1 ? "s" : ""}.`);
      } finally {
        await ctx.close();
      }
    });

  const jobs = program.command("jobs").description("Interact with Pioreactor jobs.");
  /** `--job-id` or `--job-name` to a registry record, with the original's messages when there is none. */
  const withJobRecord = async (o: JobSelector, use: (registry: JobRegistry, job: JobRecord) => void) => {
    const ctx = deps.context();
    try {
      const registry = ctx.registry();
      const id = resolveJobId(registry, o.jobId, o.jobName, deps.print);
      if (id === undefined) return;
      const job = registry.job(id);
      if (!job) {
        deps.print(`No job found with job_id=${id}.`);
        return;
      }
      use(registry, job);
    } finally {
      await ctx.close();
    }
  };
  const showHistory = async (runningOnly: boolean) => {
    const ctx = deps.context();
    try {
      const rows = ctx.registry().history(runningOnly);
      if (rows.length === 0) deps.print("No jobs recorded.");
      for (const row of rows) deps.print(formatJobLine(row));
    } finally {
      await ctx.close();
    }
  };
  const list = jobs.command("list").description("list jobs current and previous").action(() => showHistory(false));
  list.command("running").description("show status of running job(s)").action(() => showHistory(true));

  jobs
    .command("info")
    .description("show details for a job")
    .option("--job-id <id>", "", intOption("--job-id"))
    .option("--job-name <name>")
    .action((o: JobSelector) =>
      withJobRecord(o, (registry, job) => {
        deps.print(formatJobLine(job));
        deps.print(`status=${job.is_running ? "running" : "stopped"}`);
        const settings = registry.settings(job.job_id);
        if (settings.length === 0) return;
        deps.print("published settings:");
        for (const s of settings) {
          const value = s.value === null ? "None" : Buffer.isBuffer(s.value) ? s.value.toString("utf8") : String(s.value);
          deps.print(`  ${s.setting}=${value} (created_at=${secondsOnly(s.created_at)}, updated_at=${secondsOnly(s.updated_at)})`);
        }
      }),
    );

  jobs
    .command("set")
    .description("Set a published setting on a running job.")
    .argument("<job>")
    .argument("<setting>")
    .argument("<value>")
    .action(async (job: string, setting: string, value: string) => {
      const ctx = deps.context();
      try {
        const experiment = await ctx.experiment();
        const client = await ctx.connect({ clientIdBase: "", keepalive: 60, clean: true });
        await client.publish(`pioreactor/${ctx.unit}/${experiment}/${job}/${setting.replace(/-/g, "_")}/set`, value, { qos: 1 });
        await client.end();
      } finally {
        await ctx.close();
      }
    });

  jobs
    .command("purge")
    .description("remove a job record")
    .option("--job-id <id>", "", intOption("--job-id"))
    .option("--job-name <name>")
    .action((o: JobSelector) =>
      withJobRecord(o, (registry, job) => {
        const id = job.job_id;
        deps.print(registry.removeJob(id) ? `Removed job record ${id}.` : `Failed to remove job record ${id}.`);
      }),
    );

  program
    .command("logs")
    .description("Tail & stream the logs from this unit to the terminal. CTRL-C to exit.")
    .option("-n <lines>", "", intOption("-n"), 100)
    .option("-f", "follow the logs, like tail -f")
    .action(async (o: { n: number; f?: boolean }) => {
      const ctx = deps.context();
      const files = new Set<string>([ctx.config.getString("logging", "log_file", "/var/log/pioreactor.log")]);
      if (ctx.identity.amILeader()) files.add(ctx.config.getString("logging", "ui_log_file", "/var/log/pioreactor.log"));
      await ctx.close();
      const existing = [...files].filter((f) => fs.existsSync(f));
      if (existing.length === 0) {
        deps.print(`No log file yet at ${[...files].join(", ")}.`);
        return;
      }
      await new Promise<void>((resolve) => {
        const tail = spawn("tail", ["-qn", String(o.n), ...(o.f ? ["-f"] : []), ...existing], { stdio: "inherit" });
        tail.on("exit", () => resolve());
      });
    });

  program
    .command("log")
    .description("Append a single log entry from the CLI.")
    .requiredOption("-m, --message <message>", "the message to append to the log")
    .option("-l, --level <level>", "the log level to use", "debug")
    .option("-n, --name <name>", "logger name to display in the log record", "CLI")
    .option("--local-only", "don't send to MQTT; write only to local disk")
    .action(async (o: { message: string; level: string; name: string; localOnly?: boolean }) => {
      const levels = ["debug", "info", "notice", "warning", "error", "critical"];
      const level = o.level.toLowerCase();
      if (!levels.includes(level)) {
        throw new UsageError(`Invalid value for '-l' / '--level': '${o.level}' is not one of ${levels.map((l) => `'${l}'`).join(", ")}.`);
      }
      const ctx = deps.context();
      try {
        const logger = ctx.localLogger(o.name);
        if (o.localOnly) {
          logger.log(level.toUpperCase() as never, o.message);
          return;
        }
        const client = await ctx.connect({ clientIdBase: `${o.name}-logging-${ctx.unit}-$experiment`, keepalive: 900, clean: true });
        logger.withSink(new MqttLogSink(client)).log(level.toUpperCase() as never, o.message);
        await client.end();
      } finally {
        await ctx.close();
      }
    });
}
