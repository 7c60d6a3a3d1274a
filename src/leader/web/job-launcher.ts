/**
 * Starting a job on this unit the way the original's web backend does: `pio run
 * [--config-override S K V]… <job> <args…> [--<option-with-dashes> <value>]…` as a detached child
 * with a scrubbed environment (only the allow-listed keys; no PATH or HOME), watched for a short
 * grace period, its output going to an unnamed temporary file. Still running or exited 0 counts as started; an early failure reports its exit code
 * and last line of output.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Clock } from "../../util/clock";

export interface JobLaunchRequest {
  jobName: string;
  args: string[];
  options: Record<string, unknown>;
  configOverrides: Array<[string, string, string | null]>;
  env: Record<string, string>;
}

export interface JobLauncher {
  /** Resolves `{ok: true}` once started; rejects with the startup failure. */
  launch(request: JobLaunchRequest): Promise<{ ok: true }>;
}

/** The environment keys a job started through the API may see (mqtt-cli-config spec §3.5). */
export const JOB_ENV_ALLOW_LIST = [
  "EXPERIMENT",
  "JOB_SOURCE",
  "TESTING",
  "HOSTNAME",
  "HARDWARE",
  "ACTIVE",
  "FIRMWARE",
  "DEBUG",
  "MODEL_NAME",
  "MODEL_VERSION",
  "SKIP_PLUGINS",
  "DOT_PIOREACTOR",
  "GLOBAL_CONFIG",
  "LOCAL_CONFIG",
  "HAT_PRESENT",
] as const;

/** Server env, then request env, allow-listed keys only; empty and "None" values dropped. */
export function scrubJobEnv(serverEnv: NodeJS.ProcessEnv, requestEnv: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of JOB_ENV_ALLOW_LIST) {
    const value = key in requestEnv ? requestEnv[key] : serverEnv[key];
    if (value !== undefined && value !== null && value !== "" && value !== "None") out[key] = String(value);
  }
  return out;
}

/** Python's `str()` of a JSON value, which is what lands on the original's command line. */
export function pythonStr(value: unknown): string {
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}

/** The argv after `pio`: `run [--config-override S K V]… <job> <args…> [--opt value | --flag]…`. */
export function pioRunArgv(request: Omit<JobLaunchRequest, "env">): string[] {
  const argv = ["run"];
  for (const [section, key, value] of request.configOverrides) argv.push("--config-override", section, key, value ?? "");
  argv.push(request.jobName, ...request.args);
  for (const [name, value] of Object.entries(request.options)) {
    const flag = `--${name.replace(/_/g, "-")}`;
    if (value === null || value === undefined) argv.push(flag);
    else argv.push(flag, pythonStr(value));
  }
  return argv;
}

export interface PioProcessLauncherOptions {
  /** The `pio` command as argv, e.g. `[process.execPath, "/…/dist/src/cli/pio.js"]` or `["/usr/local/bin/pio"]`. */
  pioCommand: string[];
  serverEnv: NodeJS.ProcessEnv;
  clock: Clock;
  graceMs?: number;
  cwd?: string;
  spawnFn?: typeof spawn;
}

export class PioProcessLauncher implements JobLauncher {
  constructor(private readonly opts: PioProcessLauncherOptions) {}

  launch(request: JobLaunchRequest): Promise<{ ok: true }> {
    const [command, ...prefix] = this.opts.pioCommand;
    const argv = [...prefix, ...pioRunArgv(request)];
    const env = scrubJobEnv(this.opts.serverEnv, request.env);
    // Output goes to an anonymous temporary file, as the original's TemporaryFile: a pipe would
    // break (EPIPE) once this request stops reading it, killing a job that logs to stderr.
    const output = openAnonymousFile();
    let child: ChildProcess;
    try {
      child = (this.opts.spawnFn ?? spawn)(command, argv, {
        env,
        cwd: this.opts.cwd,
        detached: true,
        stdio: ["ignore", output, output],
      });
    } catch (e) {
      fs.closeSync(output);
      throw e;
    }
    return this.watch(child, output);
  }

  private watch(child: ChildProcess, output: number): Promise<{ ok: true }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = () => {
        settled = true;
        try {
          fs.closeSync(output);
        } catch {
          // already closed
        }
      };
      const timer = this.opts.clock.setTimeout(() => {
        if (settled) return;
        // Still running after the grace window: started. The job outlives this request and the server.
        finish();
        child.unref();
        resolve({ ok: true });
      }, this.opts.graceMs ?? 1000);
      child.once("error", (err) => {
        if (settled) return;
        finish();
        timer.cancel();
        reject(new Error(`Could not start pio: ${err.message}`));
      });
      child.once("exit", (code, signal) => {
        if (settled) return;
        const lastLine = lastNonEmptyLine(output);
        finish();
        timer.cancel();
        if (code === 0) resolve({ ok: true });
        else reject(new Error(`Command exited during startup grace window. Exit code ${code ?? signal}. ${lastLine}`.trim()));
      });
    });
  }
}

/** A read-write file with no name (created in the temp dir and unlinked at once): only the descriptor reaches it. */
function openAnonymousFile(): number {
  const file = path.join(os.tmpdir(), `pio-run-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const fd = fs.openSync(file, "w+", 0o600);
  fs.unlinkSync(file);
  return fd;
}

/** The last non-blank line of what was written to `fd` (its final 64 KiB). */
function lastNonEmptyLine(fd: number): string {
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, size - length);
    const lines = buf.toString("utf8").split(/\r?\n/).filter((l) => l.trim() !== "");
    return lines[lines.length - 1] ?? "";
  } catch {
    return "";
  }
}
