/**
 * Profile commands:
 *   pio run experiment_profile execute FILE EXPERIMENT [--dry-run]   (the original's command)
 *   pio run experiment_profile verify FILE                           (silent on success)
 *   pio run profile FILE [--experiment E] [--dry-run] [--input K=V]… [--at TIME] [--clock real|virtual]
 *   pio profile plan FILE [--svg OUT] [--units a,b]
 *   pio profile resume [--policy catch-up|skip|abort] [--run ID]
 *
 * A thin shell: the library does the work (`src/profiles`); this file composes the real world
 * (config, leader HTTP, MQTT, job registry, journal) or, for `--clock virtual`, a rehearsal world
 * (virtual clock, pretend cluster, no network). Diagnostics print as `file:line:col: error[code]: …`.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import type { FetchLike } from "../config/leader-http";
import { LevelLogger, type LogLevel } from "../jobs/logger";
import type { Diagnostic } from "../profiles/diagnostics";
import type { JobRegistry } from "../jobs/registry";
import type { MissedActionPolicy, ProfileExecutor, RunOutcome } from "../profiles/executor";
import type { RunRecord } from "../profiles/journal";
import type { Profile, ProfileValue } from "../profiles/types";
import { type Clock, RealClock, VirtualClock } from "../util/clock";
import { PyInt } from "../util/python-format";
import { CliError, EXIT_FAILURE, UsageError } from "./exit";
import { addSimulateOptions, type SimulateFlags } from "./simulate-cmd";

export interface ProfileCliDeps {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  setExitCode(code: number): void;
}

type Lib = typeof import("../profiles/engine");
const lib = (): Lib => require("../profiles/engine") as Lib;

function out(deps: ProfileCliDeps, line: string): void {
  (deps.stdout ?? process.stdout).write(`${line}\n`);
}

function err(deps: ProfileCliDeps, line: string): void {
  (deps.stderr ?? process.stderr).write(`${line}\n`);
}

function readProfileFile(file: string, deps: ProfileCliDeps): string {
  const full = path.resolve(deps.cwd, file);
  try {
    return fs.readFileSync(full, "utf8");
  } catch {
    throw new CliError(`Could not read profile file '${file}'.`);
  }
}

/** Validate; print every diagnostic as `file:line:col: severity[code]: message`; throw on errors. */
function validateOrExplain(text: string, file: string, deps: ProfileCliDeps, showWarnings = true): Profile {
  const { validateProfileText, formatDiagnostic } = lib();
  const v = validateProfileText(text, { filename: file });
  const shown: Diagnostic[] = v.diagnostics.filter((d) => showWarnings || d.severity === "error");
  for (const d of shown) err(deps, formatDiagnostic(d, file));
  if (!v.ok || !v.profile) {
    throw new CliError(`${v.diagnostics.filter((d) => d.severity === "error").length} error(s) in ${file}.`);
  }
  return v.profile;
}

/** `--input NAME=VALUE`: numbers (ints stay ints), true/false, otherwise the text. */
export function parseInput(pair: string, previous: Record<string, ProfileValue> = {}): Record<string, ProfileValue> {
  const eq = pair.indexOf("=");
  if (eq <= 0) throw new UsageError(`--input expects NAME=VALUE, got '${pair}'.`);
  const name = pair.slice(0, eq);
  const raw = pair.slice(eq + 1);
  let value: ProfileValue = raw;
  if (/^[-+]?[0-9]+$/.test(raw)) value = new PyInt(Number(raw));
  else if (/^[-+]?([0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?$/.test(raw)) value = Number(raw);
  else if (/^(true|false)$/i.test(raw)) value = raw.toLowerCase() === "true";
  return { ...previous, [name]: value };
}

/** A console logger for rehearsals (no MQTT, no file). */
class ConsoleLogger extends LevelLogger {
  constructor(
    private readonly deps: ProfileCliDeps,
    private readonly clock: Clock,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    super();
  }
  log(level: LogLevel, message: string): void {
    this.beforeWrite();
    const t = new Date(this.clock.now()).toISOString();
    err(this.deps, `${t} ${level.padEnd(7)} ${message}`);
  }
}

/** Units a rehearsal pretends exist: the leader plus every unit the profile names. */
function rehearsalWorkers(profile: Profile, experiment: string): Record<string, { experiment: string }> {
  const units = new Set(["leader", ...Object.keys(profile.pioreactors)]);
  return Object.fromEntries([...units].map((u) => [u, { experiment }]));
}

/** A run on a virtual clock against a pretend cluster: nothing leaves this machine. */
async function rehearse(profile: Profile, text: string, file: string, experiment: string, dryRun: boolean, deps: ProfileCliDeps, atMs?: number) {
  const { FakeCluster, HttpClusterClient, startProfileRun } = lib();
  const clock = new VirtualClock(atMs ?? Date.now());
  const fake = new FakeCluster({ workers: rehearsalWorkers(profile, experiment), clock, startStyle: "immediate" });
  const cluster = new HttpClusterClient({ leaderBaseUrl: fake.leaderBaseUrl(), unitBaseUrl: (u) => fake.unitBaseUrl(u), fetch: fake.fetch, clock });
  const outcome = await startProfileRun({
    text,
    filename: path.basename(file),
    profile,
    experiment,
    jobKey: "experiment_profile/0",
    cluster,
    clock,
    logger: new ConsoleLogger(deps, clock),
    dryRun,
    pollWhens: false,
    untilMs: clock.now() + 400 * 86_400_000,
  });
  out(deps, `Rehearsal ${outcome.status}: ${outcome.actionCount} action(s), ${fake.commands().length} request(s) a real run would send.`);
  return outcome;
}

/** The real world on this leader: config, HTTP to the cluster, MQTT, the job registry, the journal. */
async function realRun(
  args: { text: string; file: string; profile: Profile; experiment: string; dryRun: boolean; atMs?: number; resume?: { policy: MissedActionPolicy; runId?: number } },
  deps: ProfileCliDeps,
): Promise<RunOutcome> {
  const { UnitContext } = require("../jobs/unit-context") as typeof import("../jobs/unit-context");
  const { webBaseUrl, resolveUnitAddress, authHeaders } = require("../config/leader-http") as typeof import("../config/leader-http");
  const { JobLogger, MqttLogSink } = require("../jobs/logger") as typeof import("../jobs/logger");
  const p = lib();
  const ctx = new UnitContext({ env: deps.env, cwd: deps.cwd, embeddedBroker: deps.env.PIOREACTOR_EMBEDDED_BROKER === "1" });
  const clock = ctx.clock;
  const cluster = new p.HttpClusterClient({
    leaderBaseUrl: webBaseUrl(ctx.config, resolveUnitAddress(ctx.config, ctx.leader)),
    unitBaseUrl: (u) => webBaseUrl(ctx.config, resolveUnitAddress(ctx.config, u)),
    fetch: globalThis.fetch as unknown as FetchLike,
    clock,
    headers: authHeaders(ctx.config),
  });
  const store = new p.JournalStore(deps.env.PROFILE_JOURNAL ?? p.defaultJournalPath(ctx.dotPioreactor));
  const registry = ctx.registry();
  let resumed: RunRecord | undefined;
  if (args.resume) {
    try {
      resumed = runToResume(store, registry, args.resume.runId);
    } catch (e) {
      store.close();
      await ctx.close();
      throw e;
    }
  }
  const experiment = resumed?.experiment ?? args.experiment;
  const jobId = registry.register({
    unit: ctx.unit,
    experiment,
    jobName: p.PROFILE_JOB_NAME,
    jobSource: deps.env.JOB_SOURCE || "user",
    pid: process.pid,
    leader: ctx.leader,
    isLongRunning: true,
  });
  // A resumed run keeps the job key it was journaled with: its topics, its log task and the JOB_SOURCE of the jobs it started.
  const keyId = resumed ? (p.jobIdOfProfileKey(resumed.jobKey) ?? jobId) : jobId;
  const identity = { leader: ctx.unit, experiment, jobId: keyId };
  const pubsub = await ctx.connect({ clientIdBase: `${p.PROFILE_JOB_NAME}-${jobId}`, lastWill: p.profileJobLastWill(identity), keepalive: 60, clean: true });
  const logger = new JobLogger({ task: p.profileJobKey(keyId), source: "app", unit: ctx.unit, experiment }, clock, [
    ...ctx.logSinks(),
    new MqttLogSink(pubsub),
  ]);
  const testing = ctx.testing;
  const lookups = new p.MqttLookupCache({
    pubsub,
    experimentOf: async (u) => (testing ? experiment : ((await cluster.assignedExperiment(u)) ?? "$no_experiment_present")),
    ...(testing ? {} : { isActive: async (u: string) => (await cluster.workerInfo(u))?.isActive ?? false }),
  });
  let executor: ProfileExecutor | undefined;
  const stop = () => executor?.requestStop();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const progress = startProgressLine(deps, clock, () => executor);
  try {
    if (args.atMs !== undefined && args.atMs > clock.now()) {
      out(deps, `Waiting until ${new Date(args.atMs).toISOString()} to start.`);
      await clock.sleep(args.atMs - clock.now());
    }
    const common = {
      cluster,
      clock,
      logger,
      lookups,
      testing,
      // What `plugins:` in a profile is checked against (the original reads the unit's installed plugins).
      installedPlugins: (require("../plugins/index") as typeof import("../plugins/index")).installedPluginVersions({
        env: deps.env,
        cwd: deps.cwd,
      }),
      onExecutor: (ex: ProfileExecutor) => {
        executor = ex;
      },
    };
    const recordSetting = (setting: string, value: string | null) => registry.upsertSetting(jobId, setting, value);
    if (resumed && args.resume) {
      return await p.resumeManagedProfile({ ...common, store, run: resumed, policy: args.resume.policy, pubsub, leader: ctx.unit, recordSetting });
    }
    return await p.runManagedProfile({
      ...common,
      text: args.text,
      filename: path.basename(args.file),
      profile: args.profile,
      experiment,
      dryRun: args.dryRun,
      pubsub,
      leader: ctx.unit,
      jobId,
      store,
      recordSetting,
    });
  } finally {
    progress.stop();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    registry.setNotRunning(jobId);
    await lookups.close();
    await pubsub.end();
    store.close();
    await ctx.close();
  }
}

/**
 * The run `pio profile resume` continues: `--run ID`, else the newest unfinished one. A run whose
 * runner is still alive is refused (two runners would send every action twice); a dead runner's
 * registry row is closed.
 */
function runToResume(store: InstanceType<Lib["JournalStore"]>, registry: JobRegistry, runId: number | undefined): RunRecord {
  const run = runId !== undefined ? store.run(runId) : store.unfinishedRuns()[0];
  if (!run) throw new CliError(runId !== undefined ? `No profile run ${runId} in the journal.` : "No unfinished profile run to resume.");
  if (run.status !== "running") throw new CliError(`Profile run ${run.runId} already ended (${run.status}); nothing to resume.`);
  const oldId = lib().jobIdOfProfileKey(run.jobKey);
  const row = oldId !== undefined ? registry.job(oldId) : undefined;
  if (row && row.is_running === 1) {
    const { processIsAlive } = require("../jobs/registry") as typeof import("../jobs/registry");
    if (row.pid !== process.pid && processIsAlive(row.pid)) {
      throw new CliError(`Profile run ${run.runId} is still running in process ${row.pid}; stop it first (pio kill --job-id ${row.job_id}).`);
    }
    registry.setNotRunning(row.job_id);
  }
  return run;
}

/** `elapsed 1h 02m · next: update stirring on unit1 in 3m · 12 done / 40 pending`, redrawn on a TTY. */
function startProgressLine(deps: ProfileCliDeps, clock: Clock, executor: () => ProfileExecutor | undefined): { stop(): void } {
  const stream = (deps.stderr ?? process.stderr) as NodeJS.WriteStream;
  if (!stream.isTTY || !(clock instanceof RealClock)) return { stop: () => undefined };
  const { formatSeconds } = lib();
  const timer = setInterval(() => {
    const ex = executor();
    if (!ex) return;
    const p = ex.progress();
    const next = p.next ? `next: ${p.next.label} in ${formatSeconds(Math.max(0, Math.round((p.next.dueMs - clock.now()) / 1000)))}` : "next: —";
    stream.write(`\r\x1b[2Kelapsed ${formatSeconds(Math.round(p.elapsedMs / 1000))} · ${next} · ${p.done} done / ${p.pending} pending`);
  }, 500);
  return {
    stop: () => {
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}

function parseAt(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`--at expects a date and time such as 2026-12-01T08:00, got '${text}'.`);
  return ms;
}

function finish(outcome: RunOutcome, deps: ProfileCliDeps): void {
  deps.setExitCode(outcome.status === "finished" || outcome.status === "stopped" || outcome.status === "horizon" ? 0 : EXIT_FAILURE);
}

/** Under `pio run`: the original's `experiment_profile` command and our `profile` command. */
export function registerRunProfileCommands(run: Command, deps: ProfileCliDeps): void {
  const ep = run.command("experiment_profile").description("Run or check an experiment profile (the original's command).");
  ep.command("execute")
    .argument("<filename>")
    .argument("<experiment>")
    .option("--dry-run", "do not start, stop, pause, resume or update jobs")
    .action(async (file: string, experiment: string, o: { dryRun?: boolean }) => {
      const text = readProfileFile(file, deps);
      const profile = validateOrExplain(text, file, deps, false);
      finish(await realRun({ text, file, profile, experiment, dryRun: Boolean(o.dryRun) }, deps), deps);
    });
  ep.command("verify")
    .argument("<filename>")
    .action((file: string) => {
      validateOrExplain(readProfileFile(file, deps), file, deps, false);
      deps.setExitCode(0);
    });

  const profileCommand = run
    .command("profile")
    .description("Run an experiment profile, on the real cluster, rehearsed on a virtual clock, or on simulated units (--simulate).")
    .argument("<filename>")
    .option("--experiment <name>", "experiment to run in (default: the leader's assigned experiment)")
    .option("--dry-run", "do not start, stop, pause, resume or update jobs")
    .option("--input <name=value>", "override a profile input (repeatable)", (v: string, prev: Record<string, ProfileValue>) => parseInput(v, prev), {})
    .option("--at <time>", "start at this date and time instead of now")
    .option("--clock <kind>", "real | virtual (virtual: a rehearsal that finishes at once, nothing is sent)", "real");
  // --simulate and its flags live in simulate-cmd.ts (the simulated cluster, src/sim).
  addSimulateOptions(profileCommand).action(
    async (file: string, o: { experiment?: string; dryRun?: boolean; input: Record<string, ProfileValue>; at?: string; clock: string } & SimulateFlags) => {
      if (o.clock !== "real" && o.clock !== "virtual") throw new UsageError(`--clock must be real or virtual, got '${o.clock}'.`);
      const text = readProfileFile(file, deps);
      const profile = validateOrExplain(text, file, deps);
      profile.inputs = { ...profile.inputs, ...o.input };
      if (o.simulate) {
        const { runSimulatedProfile } = require("./simulate-cmd") as typeof import("./simulate-cmd");
        await runSimulatedProfile(file, text, o, deps, profile);
        return;
      }
      const atMs = parseAt(o.at);
      if (o.clock === "virtual") {
        finish(await rehearse(profile, text, file, o.experiment ?? "rehearsal", o.dryRun ?? false, deps, atMs), deps);
        return;
      }
      let experiment = o.experiment;
      if (!experiment) {
        const { UnitContext } = require("../jobs/unit-context") as typeof import("../jobs/unit-context");
        const ctx = new UnitContext({ env: deps.env, cwd: deps.cwd });
        experiment = await ctx.experiment();
        await ctx.close();
      }
      finish(await realRun({ text, file, profile, experiment, dryRun: Boolean(o.dryRun), ...(atMs !== undefined ? { atMs } : {}) }, deps), deps);
    },
  );
}

/** `pio profile plan|resume`. */
export function registerProfileCommands(program: Command, deps: ProfileCliDeps): void {
  const group = program.command("profile").description("Plan and resume experiment profiles.");
  group
    .command("plan")
    .description("Print the expanded timeline per unit and job; optionally draw it as SVG.")
    .argument("<filename>")
    .option("--svg <out>", "write an SVG timeline to this file")
    .option("--units <list>", "units the common jobs run on, comma-separated")
    .action((file: string, o: { svg?: string; units?: string }) => {
      const profile = validateOrExplain(readProfileFile(file, deps), file, deps);
      const { buildPlan, formatPlan, planToSvg } = lib();
      const plan = buildPlan(profile, o.units ? { commonUnits: o.units.split(",").map((s) => s.trim()) } : {});
      out(deps, formatPlan(plan));
      if (o.svg) {
        fs.writeFileSync(path.resolve(deps.cwd, o.svg), planToSvg(plan));
        out(deps, `Wrote ${o.svg}.`);
      }
      deps.setExitCode(0);
    });
  group
    .command("resume")
    .description("Continue a profile run that a crash or reboot interrupted, from its journal.")
    .option("--policy <policy>", "what to do with actions whose time passed: catch-up | skip | abort", "catch-up")
    .option("--run <id>", "journal run id (default: the newest unfinished run)")
    .action(async (o: { policy: string; run?: string }) => {
      if (!["catch-up", "skip", "abort"].includes(o.policy)) throw new UsageError(`--policy must be catch-up, skip or abort, got '${o.policy}'.`);
      const runId = o.run === undefined ? undefined : Number(o.run);
      const outcome = await realRun(
        { text: "", file: "", profile: undefined as unknown as Profile, experiment: "", dryRun: false, resume: { policy: o.policy as MissedActionPolicy, ...(runId !== undefined ? { runId } : {}) } },
        deps,
      );
      finish(outcome, deps);
    });
}
