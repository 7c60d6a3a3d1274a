/**
 * `pios` subcommands: run, kill, jobs list|set, sync-configs, reboot, shutdown — one request per
 * unit over the unit API, all units at once, one result per unit; any unit failing makes the
 * command exit 1 after every unit has been tried.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { leaderHostname } from "../config/identity";
import type { ConfigReader } from "../config/types";
import { type ClusterHttp, type HttpReply, summarizeErrorReply, UnreachableError } from "../leader/cluster/cluster-http";
import {
  activeJobUnits,
  allWorkerUnits,
  clusterUnitsWithLeader,
  explicitUnitsWithLeader,
  type SelectionDeps,
  SelectionError,
  type Selector,
} from "../leader/cluster/unit-selection";
import { AbortError, CliError, UsageError } from "./exit";
import { type FanoutProgress, fanOut } from "./pios-progress";
import { confirmOrAbort, type PromptPort, pyTuple } from "./pios-prompt";
import { runPayload } from "./pios-run-args";

export interface MqttPublisher {
  publish(topic: string, payload: string, qos: 0 | 1 | 2): Promise<void>;
  end(): Promise<void>;
}

export interface PiosDeps {
  config(): ConfigReader;
  http(): ClusterHttp;
  /** $DOT_PIOREACTOR on the leader. */
  dotPioreactor: string;
  /** Where relative paths on the command line are taken from (default: `dotPioreactor`). */
  cwd?: string;
  print(line: string): void;
  warn(line: string): void;
  prompt: PromptPort;
  progress(label: string, total: number): FanoutProgress;
  mqtt(): Promise<MqttPublisher>;
  /** Appends a `config_files_histories` row on the leader database. */
  recordConfigHistory(filename: string, data: string, timestamp: string): Promise<void>;
  /** The original's transport for config.ini, used when a unit has no `/unit_api/config/shared` (unchanged Python workers). */
  copyFileToUnit?(unit: string, address: string, localPath: string, remotePath: string): Promise<void>;
  now(): Date;
  /** Waits between polls of a unit's task (default: a real timer). */
  sleep?(ms: number): Promise<void>;
  /** `--run-args` given after `pios run JOB` and the `--config-override` triples taken out before parsing. */
  runConfigOverrides: Array<[string, string, string]>;
}

export interface TargetOptions {
  units: string[];
  experiments: string[];
  yes?: boolean;
  json?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

export function withTargets(cmd: Command, opts: { confirm?: boolean; json?: boolean } = {}): Command {
  cmd
    .option("--units <unit>", "specify worker unit(s); default is all", collect, [] as string[])
    .option("--experiments <experiment>", "specify experiment(s) to select active workers from", collect, [] as string[]);
  if (opts.confirm !== false) cmd.option("-y, --yes", "Skip asking for confirmation.");
  if (opts.json) cmd.option("--json", "output as json");
  return cmd;
}

export function selector(o: TargetOptions): Selector {
  return { units: o.units ?? [], experiments: o.experiments ?? [] };
}

/** Selection problems are usage errors (exit 2), as click's BadParameter. */
export async function select<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof SelectionError) throw new UsageError(e.message);
    throw e;
  }
}

export function selectionDeps(deps: PiosDeps): SelectionDeps {
  return { http: deps.http(), leader: leaderHostname(deps.config()), warn: deps.warn };
}

/** Why a unit request failed, in one line. */
function failure(e: unknown, reply?: HttpReply): string {
  if (reply) return summarizeErrorReply(reply);
  return e instanceof UnreachableError ? e.message : (e as Error).message;
}

/** `--json`: one compact JSON line per unit, the unit's reply with `status` success|error. */
export function printJsonResults(deps: PiosDeps, results: Array<{ unit: string; ok: boolean; value: Record<string, unknown> }>): void {
  for (const r of results) deps.print(JSON.stringify({ ...r.value, status: r.ok ? "success" : "error" }));
}

export function failIfAny(results: Array<{ ok: boolean }>): void {
  if (!results.every((r) => r.ok)) throw new AbortError();
}

/** One request per unit; a non-2xx reply or a network failure is that unit's error line. */
async function requestEach(
  deps: PiosDeps,
  units: string[],
  label: string,
  send: (http: ClusterHttp, unit: string) => Promise<HttpReply>,
  errorLine: (unit: string, address: string, why: string) => string,
): Promise<Array<{ unit: string; ok: boolean; value: Record<string, unknown> }>> {
  const http = deps.http();
  return fanOut(
    units,
    async (unit) => {
      let reply: HttpReply | undefined;
      try {
        reply = await send(http, unit);
        if (reply.ok) {
          const value = reply.json && typeof reply.json === "object" && !Array.isArray(reply.json) ? (reply.json as Record<string, unknown>) : { unit };
          return { ok: true, value };
        }
        deps.print(errorLine(unit, http.addressOf(unit), failure(undefined, reply)));
      } catch (e) {
        deps.print(errorLine(unit, http.addressOf(unit), failure(e)));
      }
      return { ok: false, value: { unit } };
    },
    deps.progress(label, units.length),
  );
}

function registerRun(pios: Command, deps: PiosDeps): void {
  withTargets(pios.command("run").description("run a job on workers").argument("<job>").argument("[job-args...]"), { json: true })
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (job: string, jobArgs: string[], o: TargetOptions) => {
      if (jobArgs.includes("unit") || jobArgs.includes("--unit")) {
        deps.warn("Did you mean to use 'units' instead of 'unit'? Exiting.");
        throw new AbortError();
      }
      const units = await select(() => activeJobUnits(selectionDeps(deps), selector(o)));
      await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm running ${job} on ${pyTuple(units)}? Y/n: `);
      const payload = runPayload(jobArgs, deps.runConfigOverrides);
      const results = await requestEach(
        deps,
        units,
        `run ${job}`,
        (http, unit) => http.unit(unit, "POST", `/unit_api/jobs/run/job_name/${encodeURIComponent(job)}`, payload),
        (unit, address, why) => `Unable to execute run command on ${unit} at ${address} due to server error: ${why}`,
      );
      if (o.json) printJsonResults(deps, results);
      failIfAny(results);
    });
}

interface KillOptions extends TargetOptions {
  allJobs?: boolean;
  experiment?: string;
  jobSource?: string;
  jobName?: string;
  jobId?: string;
}

function registerKill(pios: Command, deps: PiosDeps): void {
  withTargets(
    pios
      .command("kill")
      .description("kill a job(s) on workers")
      .option("--all-jobs", "kill all worker jobs")
      .option("--experiment <experiment>")
      .option("--job-source <source>")
      .option("--job-name <name>")
      .option("--job-id <id>"),
    { json: true },
  ).action(async (o: KillOptions) => {
    const units = await select(() => activeJobUnits(selectionDeps(deps), selector(o)));
    const body: Record<string, unknown> = {};
    if (!o.allJobs) {
      if (o.experiment) body.experiment = o.experiment;
      if (o.jobName) body.job_name = o.jobName;
      if (o.jobSource) body.job_source = o.jobSource;
      if (o.jobId) body.job_id = Number(o.jobId);
      // The unit API refuses an empty filter; say so once here rather than once per unit.
      if (Object.keys(body).length === 0) throw new UsageError("Provide --all-jobs, or at least one of --job-name, --experiment, --job-source, --job-id.");
    }
    await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm killing jobs on ${pyTuple(units)}? Y/n: `);
    const endpoint = o.allJobs ? "/unit_api/jobs/stop/all" : "/unit_api/jobs/stop";
    const results = await requestEach(
      deps,
      units,
      "kill",
      (http, unit) => http.unit(unit, "PATCH", endpoint, body),
      (unit, _address, why) => `Failed to send kill command to ${unit}: ${why}`,
    );
    if (o.json) printJsonResults(deps, results);
    failIfAny(results);
  });
}

interface JobRow {
  job_id: number;
  job_name: string;
  experiment: string;
  job_source: string | null;
  unit: string;
  started_at: string;
  ended_at: string | null;
}

/** `2026-01-01T10:00:00.123Z` → `2026-01-01T10:00:00` (the original drops sub-seconds and zone). */
function toSeconds(ts: string | null): string {
  if (!ts) return "";
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})/.exec(ts);
  return m ? `${m[1]}T${m[2]}` : ts;
}

function jobLine(r: JobRow): string {
  return `[job_id=${r.job_id}] ${r.job_name} experiment=${r.experiment}, source=${r.job_source ?? "unknown"}, started_at=${toSeconds(r.started_at)}, ended_at=${toSeconds(r.ended_at) || "still running"}`;
}

async function showJobs(deps: PiosDeps, o: TargetOptions, runningOnly: boolean): Promise<void> {
  const units = await select(() => activeJobUnits(selectionDeps(deps), selector(o)));
  const endpoint = runningOnly ? "/unit_api/jobs/running" : "/unit_api/jobs";
  const http = deps.http();
  const results = await fanOut(
    units,
    async (unit) => {
      try {
        const reply = await http.unit(unit, "GET", endpoint);
        if (!reply.ok) throw new Error(summarizeErrorReply(reply));
        if (!Array.isArray(reply.json)) throw new Error("Expected list payload");
        return { ok: true, value: reply.json as unknown[] };
      } catch (e) {
        deps.warn(`Unable to list jobs on ${unit} at ${http.addressOf(unit)}: ${(e as Error).message}`);
        return { ok: false, value: [] as unknown[] };
      }
    },
    deps.progress("jobs", units.length),
  );
  const byUnit = new Map<string, JobRow[]>();
  for (const { unit, value } of results) {
    for (const raw of value) {
      const r = raw as Partial<JobRow>;
      if (!r || typeof r !== "object" || r.job_id === undefined || !r.job_name || r.experiment === undefined || !r.started_at) continue;
      const row: JobRow = { ...(r as JobRow), unit: String(r.unit ?? unit), job_source: r.job_source ?? null, ended_at: r.ended_at ?? null };
      byUnit.set(row.unit, [...(byUnit.get(row.unit) ?? []), row]);
    }
  }
  if (byUnit.size === 0) {
    deps.print("No jobs recorded.");
  } else {
    for (const unit of [...byUnit.keys()].sort()) {
      deps.print(unit);
      const rows = byUnit.get(unit)!.sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0));
      for (const row of rows) deps.print(`  ${jobLine(row)}`);
    }
  }
  // Ours: a unit that could not be asked fails the command (the original exits 0).
  failIfAny(results);
}

function registerJobs(pios: Command, deps: PiosDeps): void {
  const jobs = pios.command("jobs").description("job-related commands");
  const list = withTargets(jobs.command("list").description("list jobs current and previous"), { confirm: false }).action((o: TargetOptions) =>
    showJobs(deps, o, false),
  );
  withTargets(list.command("running").description("show status of running job(s)"), { confirm: false }).action((o: TargetOptions, cmd: Command) =>
    showJobs(deps, { ...(cmd.parent?.opts() as TargetOptions), ...nonEmpty(o) }, true),
  );

  withTargets(jobs.command("set").description("set a running job setting on workers").argument("<job>").argument("<setting>").argument("<value>")).action(
    async (job: string, rawSetting: string, value: string, o: TargetOptions) => {
      const setting = rawSetting.replace(/-/g, "_");
      const units = await select(() => activeJobUnits(selectionDeps(deps), selector(o)));
      await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm setting ${job}'s ${setting} to ${value} on ${pyTuple(units)}? Y/n: `);
      const http = deps.http();
      const mqtt = await deps.mqtt();
      let failed = false;
      try {
        for (const unit of units) {
          try {
            const reply = await http.leader("GET", `/api/workers/${encodeURIComponent(unit)}/experiment`);
            const experiment = (reply.json as { experiment?: string } | undefined)?.experiment;
            if (!reply.ok || !experiment) throw new Error(`${unit} is not assigned to an experiment`);
            await mqtt.publish(`pioreactor/${unit}/${experiment}/${job}/${setting}/set`, value, 1);
          } catch (e) {
            failed = true;
            deps.warn(`Unable to set ${job}'s ${setting} on ${unit}: ${(e as Error).message}`);
          }
        }
      } finally {
        await mqtt.end();
      }
      if (failed) throw new AbortError();
    },
  );
}

/** Options given on `jobs list running` override the ones given on `jobs list`, but empty lists do not. */
function nonEmpty(o: TargetOptions): Partial<TargetOptions> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => !(Array.isArray(v) && v.length === 0)));
}

interface SyncOptions extends TargetOptions {
  shared?: boolean;
  specific?: boolean;
  skipSave?: boolean;
}

function utcTimestamp(d: Date): string {
  return d.toISOString();
}

async function pushSharedConfig(deps: PiosDeps, http: ClusterHttp, unit: string, configPath: string, text: string): Promise<void> {
  const reply = await http.unit(unit, "POST", "/unit_api/config/shared", { code: text }, 15_000);
  if (reply.ok) return;
  // An unchanged Python worker has no such route: fall back to the original's copy, if available.
  if ((reply.status === 404 || reply.status === 405) && deps.copyFileToUnit) {
    await deps.copyFileToUnit(unit, http.addressOf(unit), configPath, configPath);
    return;
  }
  throw new Error(`Could not transfer config to ${unit}. ${summarizeErrorReply(reply)}`);
}

async function refreshSpecificSnapshot(deps: PiosDeps, http: ClusterHttp, unit: string, leader: string, persist: boolean): Promise<void> {
  let contents: string;
  if (unit === leader) {
    const file = path.join(deps.dotPioreactor, "unit_config.ini");
    contents = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  } else {
    const reply = await http.unit(unit, "GET", "/unit_api/config/specific", undefined, 15_000);
    if (!reply.ok) throw new Error(`Could not refresh unit-specific config snapshot from ${unit}: ${summarizeErrorReply(reply)}`);
    contents = reply.text;
  }
  if (persist) await deps.recordConfigHistory(`unit_config.ini::${unit}`, contents, utcTimestamp(deps.now()));
}

function registerSyncConfigs(pios: Command, deps: PiosDeps): void {
  withTargets(
    pios
      .command("sync-configs")
      .description("sync config")
      .option("--shared", "sync the shared config.ini")
      .option("--specific", "refresh leader-side snapshots of unit-specific unit_config.ini files")
      .option("--skip-save", "don't save to db"),
  ).action(async (o: SyncOptions) => {
    const selection = selectionDeps(deps);
    const units = await select(() => clusterUnitsWithLeader(selection, selector(o)));
    const shared = Boolean(o.shared) || !o.specific;
    const specific = Boolean(o.specific) || !o.shared;
    await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm syncing configs on ${pyTuple(units)}? Y/n: `);
    const configPath = path.join(deps.dotPioreactor, "config.ini");
    const sharedText = shared ? fs.readFileSync(configPath, "utf8") : "";
    if (shared && !o.skipSave) await deps.recordConfigHistory("config.ini", sharedText, utcTimestamp(deps.now()));
    const http = deps.http();
    const results = await fanOut(
      units,
      async (unit) => {
        try {
          // Never push config.ini onto the leader: it is the source (the original once wiped it so).
          if (shared && unit !== selection.leader) await pushSharedConfig(deps, http, unit, configPath, sharedText);
          if (specific) await refreshSpecificSnapshot(deps, http, unit, selection.leader, !o.skipSave);
          return { ok: true, value: null };
        } catch (e) {
          deps.warn(`Encountered error syncing configs to ${unit}: ${(e as Error).message}`);
          return { ok: false, value: null };
        }
      },
      deps.progress("sync-configs", units.length),
      6,
    );
    failIfAny(results);
  });
}

function registerPower(pios: Command, deps: PiosDeps, action: "reboot" | "shutdown"): void {
  const verb = action === "reboot" ? { confirm: "rebooting", error: "reboot", leader: "reboot" } : { confirm: "shutting down", error: "shut down", leader: "shut down" };
  withTargets(pios.command(action).description(action === "reboot" ? "reboot Pioreactors" : "shutdown Pioreactors")).action(async (o: TargetOptions) => {
    const selection = selectionDeps(deps);
    const leader = selection.leader;
    const units = o.units.includes(leader)
      ? await select(() => explicitUnitsWithLeader(selection, selector(o)))
      : await select(() => allWorkerUnits(selection, selector(o)));
    await confirmOrAbort(deps.prompt, Boolean(o.yes), `Confirm ${verb.confirm} on ${pyTuple(units)}? Y/n: `);
    const workers = units.filter((u) => u !== leader);
    const results = await requestEach(
      deps,
      workers,
      action,
      (http, unit) => http.unit(unit, "POST", `/unit_api/system/${action}`, undefined, 60_000),
      (unit, address, why) => `Unable to ${verb.error} ${unit} at ${address}. ${why}`,
    );
    // The leader goes last: once it is down, nothing can reach the workers.
    if (units.includes(leader)) {
      const http = deps.http();
      let reply: HttpReply;
      try {
        reply = await http.unit(leader, "POST", `/unit_api/system/${action}`, undefined, 60_000);
      } catch (e) {
        throw new CliError(`Unable to ${verb.leader} the leader. ${failure(e)}`);
      }
      if (!reply.ok) throw new CliError(`Unable to ${verb.leader} the leader. ${summarizeErrorReply(reply)}`);
    }
    // Ours: a worker that could not be reached fails the command (the original exits 0).
    failIfAny(results);
  });
}

export function registerPiosCommands(pios: Command, deps: PiosDeps): void {
  registerRun(pios, deps);
  registerKill(pios, deps);
  registerJobs(pios, deps);
  registerSyncConfigs(pios, deps);
  registerPower(pios, deps, "reboot");
  registerPower(pios, deps, "shutdown");
  // Loaded here, not at the top: it builds on the helpers above.
  (require("./pios-admin-commands") as typeof import("./pios-admin-commands")).registerAdminCommands(pios, deps);
}
