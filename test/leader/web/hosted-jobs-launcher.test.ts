/**
 * HostedJobLauncher in this process, with job commands that need no broker: how a launch ends
 * (grace window, exit codes, the child's error text), and where an uncaught error is routed
 * (its running job, a job that has ended, or nobody). The uncaught-error source is a small
 * emitter standing in for the process; the errors are raised inside the jobs' real async contexts.
 */
import { AsyncResource } from "node:async_hooks";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureDevConfig } from "../../../src/config/dev-config";
import type { CatalogEntry } from "../../../src/jobs/catalog";
import type { JobCommand } from "../../../src/jobs/job-command";
import { parseFloatOption } from "../../../src/jobs/job-command";
import type { UncaughtErrorSource } from "../../../src/leader/web/hosted-jobs/fault-isolation";
import { HostedJobLauncher } from "../../../src/leader/web/hosted-jobs/hosted-job-launcher";
import { RealClock } from "../../../src/util/clock";

class ErrorEmitter implements UncaughtErrorSource {
  listeners = new Set<(e: unknown) => void>();
  onUncaught(listener: (e: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(e: unknown): void {
    for (const l of this.listeners) l(e);
  }
}

function entry(job: JobCommand): CatalogEntry {
  return { name: job.name, summary: job.summary, load: () => job };
}

describe("HostedJobLauncher", () => {
  let dir: string;
  let errors: ErrorEmitter;
  let logs: string[];
  let unowned: unknown[];
  let launcher: HostedJobLauncher;
  let release: () => void;
  let lateCallback: (() => void) | undefined;
  let ran: Array<{ job: string; options: Record<string, unknown>; unit: string; env?: string[] }>;

  const waits: JobCommand = {
    name: "waits",
    summary: "runs until released",
    options: [{ flags: "--speed <x>", description: "a float", parse: parseFloatOption("--speed") }],
    async run({ ctx, options }) {
      ran.push({ job: "waits", options, unit: ctx.unit, env: Object.keys(ctx.env).sort() });
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return 0;
    },
  };
  const quick: JobCommand = {
    name: "quick",
    summary: "ends at once, leaving a callback behind",
    options: [],
    async run({ ctx }) {
      ran.push({ job: "quick", options: {}, unit: ctx.unit });
      lateCallback = AsyncResource.bind(() => errors.emit(new Error("late")));
      return 0;
    },
  };
  const fails: JobCommand = {
    name: "fails",
    summary: "fails at start",
    options: [],
    async run() {
      throw new Error("the sensor did not answer");
    },
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-hosted-unit-"));
    const config = ensureDevConfig({ dir, brokerPort: 1, leaderHostname: "leader" });
    errors = new ErrorEmitter();
    logs = [];
    unowned = [];
    ran = [];
    launcher = new HostedJobLauncher({
      serverEnv: { DOT_PIOREACTOR: dir, GLOBAL_CONFIG: config, HOSTNAME: "unit1", ACTIVE: "1", NOT_ALLOWED: "x" },
      cwd: dir,
      clock: new RealClock(),
      catalog: () => [entry(waits), entry(quick), entry(fails)],
      hardware: () => Promise.reject(new Error("no hardware in this test")),
      uncaughtErrors: errors,
      onUnownedError: (e) => unowned.push(e),
      log: (l) => logs.push(l),
      graceMs: 200,
      closeTimeoutMs: 2000,
    });
  });

  afterEach(async () => {
    release?.();
    await launcher.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("options are parsed as `pio run` parses them; a bad one fails with the child's text and code 2", async () => {
    await expect(launcher.launch({ jobName: "waits", args: [], options: { speed: 2.5 }, configOverrides: [], env: { EXPERIMENT: "e9" } })).resolves.toEqual({ ok: true });
    // The environment a child would get: the allow-listed keys only.
    expect(ran).toEqual([{ job: "waits", options: { speed: 2.5 }, unit: "unit1", env: ["ACTIVE", "DOT_PIOREACTOR", "EXPERIMENT", "GLOBAL_CONFIG", "HOSTNAME"] }]);
    await expect(launcher.launch({ jobName: "waits", args: [], options: { speed: "fast" }, configOverrides: [], env: {} })).rejects.toThrow(
      "Command exited during startup grace window. Exit code 2. Invalid value for '--speed': 'fast' is not a valid float.",
    );
    await expect(launcher.launch({ jobName: "waits", args: [], options: { colour: "red" }, configOverrides: [], env: {} })).rejects.toThrow(
      "Command exited during startup grace window. Exit code 2. error: unknown option '--colour'",
    );
    await expect(launcher.launch({ jobName: "fails", args: [], options: {}, configOverrides: [], env: {} })).rejects.toThrow(
      "Command exited during startup grace window. Exit code 1. Error: the sensor did not answer",
    );
    await expect(launcher.launch({ jobName: "nope", args: [], options: {}, configOverrides: [], env: {} })).rejects.toThrow(
      "Exit code 2. No such job 'nope'. Known jobs: fails, quick, waits.",
    );
  });

  test("an uncaught error from a job that has ended is only logged; one that no job owns goes to the daemon", async () => {
    await launcher.launch({ jobName: "quick", args: [], options: {}, configOverrides: [], env: {} });
    // The run has ended (its command returned 0 at once); let the launcher forget it.
    await new Promise((r) => setTimeout(r, 50));
    lateCallback!();
    expect(logs).toContain("A hosted job that has ended (quick) raised an uncaught error: late");
    expect(unowned).toEqual([]);

    const outside = new Error("not a job's");
    errors.emit(outside);
    expect(unowned).toEqual([outside]);
  });
});
