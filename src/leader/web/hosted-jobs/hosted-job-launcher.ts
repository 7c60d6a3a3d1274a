/**
 * Starting jobs inside `pio serve` (`[pio_serve] host_jobs = true`) instead of as `pio run`
 * children: the request becomes the same argv a child would parse, parsed by the same code
 * (`parseAndInvokeJob`), run on a `UnitContext` built from the same scrubbed environment. Each job
 * keeps its own broker connection, so its last will still marks it `lost` if the daemon dies, and
 * its own registry row (with the daemon's pid). The unit's hardware is opened once and shared.
 *
 * A job's uncaught error (a throw in a raw timer, an unhandled rejection) is traced back to it,
 * logged at ERROR on the job's own logger and stops that job only.
 */
import type { BackgroundJob } from "../../../jobs/background-job";
import type { CatalogEntry } from "../../../jobs/catalog";
import { parseAndInvokeJob } from "../../../jobs/job-argv";
import { UnitContext } from "../../../jobs/unit-context";
import type { HardwareBackend } from "../../../hardware/ports";
import { exitOutcome } from "../../../cli/main";
import type { Clock } from "../../../util/clock";
import { type JobLauncher, type JobLaunchRequest, pioRunArgv, scrubJobEnv } from "../job-launcher";
import { errorText, FaultIsolation, type UncaughtErrorSource } from "./fault-isolation";

export interface HostedJobLauncherDeps {
  serverEnv: NodeJS.ProcessEnv;
  cwd: string;
  clock: Clock;
  /** The jobs `pio run` would know right now (built-ins with plugins laid over them). */
  catalog(): CatalogEntry[];
  /** The unit's hardware, opened once for every hosted job (see `sharedHardware`). */
  hardware(): Promise<HardwareBackend>;
  uncaughtErrors: UncaughtErrorSource;
  /** An uncaught error no hosted job owns: the daemon's own failure. */
  onUnownedError(error: unknown): void;
  /** The daemon's console. */
  log(line: string): void;
  /** As `PioProcessLauncher`: a job still starting after this long counts as started. */
  graceMs?: number;
  /** How long shutdown waits for every job to disconnect. */
  closeTimeoutMs?: number;
}

interface HostedRun {
  id: number;
  jobName: string;
  jobs: Set<BackgroundJob>;
  ctx?: UnitContext;
  stopReason?: string;
  finished?: Promise<number>;
}

export class HostedJobLauncher implements JobLauncher {
  private readonly runs = new Map<number, HostedRun>();
  /** Names of recently ended runs, for errors their late callbacks raise. */
  private readonly endedNames = new Map<number, string>();
  private readonly isolation = new FaultIsolation<number>();
  private readonly detachErrors: () => void;
  private nextId = 1;
  private closing = false;

  constructor(private readonly deps: HostedJobLauncherDeps) {
    this.detachErrors = deps.uncaughtErrors.onUncaught((e) => this.onUncaught(e));
  }

  launch(request: JobLaunchRequest): Promise<{ ok: true }> {
    if (this.closing) return Promise.reject(new Error("pio serve is shutting down."));
    const catalog = this.deps.catalog();
    const entry = catalog.find((e) => e.name === request.jobName);
    if (!entry) {
      const known = catalog.map((e) => e.name).sort();
      return Promise.reject(startupFailure(2, `No such job '${request.jobName}'. Known jobs: ${known.join(", ")}.`));
    }
    const run: HostedRun = { id: this.nextId++, jobName: request.jobName, jobs: new Set() };
    this.runs.set(run.id, run);
    const errorLines: string[] = [];
    const finished = this.isolation.within(run.id, () => this.execute(run, entry, request, errorLines));
    run.finished = finished;
    void finished.then(() => {
      this.runs.delete(run.id);
      this.endedNames.set(run.id, run.jobName);
      if (this.endedNames.size > 1000) this.endedNames.delete(this.endedNames.keys().next().value!);
    });
    return this.withinGrace(finished, errorLines);
  }

  /** Stops the hosted job with this registry id; false when none here has it. */
  async stopJob(jobId: number, reason = "signal Interrupt"): Promise<boolean> {
    for (const run of this.runs.values()) {
      for (const job of run.jobs) {
        if (job.jobId === jobId) {
          await job.stop(reason);
          return true;
        }
      }
    }
    return false;
  }

  /** The daemon's shutdown: every hosted job disconnects (retained `disconnected`), then the shared parts close. */
  async close(): Promise<void> {
    this.closing = true;
    const pending = [...this.runs.values()];
    for (const run of pending) this.requestStop(run, "signal Terminated");
    const all = Promise.all(pending.map((r) => r.finished));
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.deps.clock.setTimeout(() => {
        this.deps.log(`Gave up waiting for ${this.runs.size} hosted job(s) to stop.`);
        resolve();
      }, this.deps.closeTimeoutMs ?? 15000);
    });
    await Promise.race([all, timeout]);
    timer?.cancel();
    this.detachErrors();
  }

  private requestStop(run: HostedRun, reason: string): void {
    run.stopReason ??= reason;
    run.ctx?.requestStop(reason);
  }

  /** What a `pio run` child does between its argv and its exit code. */
  private async execute(run: HostedRun, entry: CatalogEntry, request: JobLaunchRequest, errorLines: string[]): Promise<number> {
    let code = 0;
    let ctx: UnitContext | undefined;
    try {
      ctx = new UnitContext({
        env: scrubJobEnv(this.deps.serverEnv, request.env),
        cwd: this.deps.cwd,
        clock: this.deps.clock,
        configOverrides: request.configOverrides.map(([s, k, v]) => [s, k, v ?? ""]),
        sharedHardware: () => this.isolation.outside(() => this.deps.hardware()),
        consoleLog: false,
        onJobStart: (job) => run.jobs.add(job),
      });
      run.ctx = ctx;
      if (run.stopReason !== undefined) ctx.requestStop(run.stopReason);
      const argv = pioRunArgv({ ...request, configOverrides: [] }).slice(2);
      const job = entry.load();
      await parseAndInvokeJob(
        job,
        argv,
        async (chosen, input) => {
          code = await chosen.run({ ctx: ctx!, ...input });
        },
        { writeErr: (text) => errorLines.push(text) },
      );
    } catch (e) {
      const outcome = exitOutcome(e);
      code = outcome.code;
      if (outcome.line !== undefined) errorLines.push(outcome.line);
    } finally {
      await ctx?.close().catch(() => undefined);
    }
    if (code !== 0) this.deps.log(`${run.jobName} (hosted) ended with exit code ${code}. ${lastLine(errorLines)}`.trim());
    return code;
  }

  /** As a child's grace window: still running after it, or done with 0, is started; an early failure is reported. */
  private withinGrace(finished: Promise<number>, errorLines: string[]): Promise<{ ok: true }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = this.deps.clock.setTimeout(() => {
        settled = true;
        resolve({ ok: true });
      }, this.deps.graceMs ?? 1000);
      void finished.then((code) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (code === 0) resolve({ ok: true });
        else reject(startupFailure(code, lastLine(errorLines)));
      });
    });
  }

  private onUncaught(error: unknown): void {
    const owner = this.isolation.currentOwner();
    if (owner === undefined) {
      this.deps.onUnownedError(error);
      return;
    }
    const run = this.runs.get(owner);
    if (!run) {
      // A late callback of a job that has already ended (a socket closing): nothing left to stop.
      this.deps.log(`A hosted job that has ended (${this.endedNames.get(owner) ?? `run ${owner}`}) raised an uncaught error: ${errorText(error)}`);
      return;
    }
    const text = `${run.jobName} failed with an uncaught error: ${errorText(error)}. Stopping it; the other jobs keep running.`;
    const jobs = [...run.jobs];
    if (jobs.length === 0) this.deps.log(text);
    for (const job of jobs) job.logger.error(text);
    if (error instanceof Error && error.stack) for (const job of jobs) job.logger.debug(error.stack);
    this.requestStop(run, "an uncaught error");
  }
}

/** The text a failed `pio run` child's task reports (see `PioProcessLauncher`). */
function startupFailure(code: number, line: string): Error {
  return new Error(`Command exited during startup grace window. Exit code ${code}. ${line}`.trim());
}

function lastLine(chunks: string[]): string {
  const lines = chunks.join("\n").split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines[lines.length - 1] ?? "";
}
