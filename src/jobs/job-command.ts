/**
 * How a job or action appears under `pio run`: its name, CLI options (with the original's flags,
 * types and ranges) and the function that runs it. Each job module exports one `JobCommand`; the
 * catalog lists them. Job code is imported only when its command runs, so `pio --help` stays fast.
 */
import { UsageError } from "../cli/exit";
import type { BackgroundJob } from "./background-job";
import type { UnitContext } from "./unit-context";

export interface JobOption {
  /** commander flags, e.g. `--target-rpm <rpm>` or `--fake-data`. */
  flags: string;
  description: string;
  /** Converts and validates the text; throw `UsageError` naming the allowed values. */
  parse?: (value: string) => unknown;
  defaultValue?: unknown;
}

export interface JobRunInput {
  ctx: UnitContext;
  /** Parsed options, camelCased by commander (`--target-rpm` → `targetRpm`). */
  options: Record<string, unknown>;
  /** Unknown `--key value` pairs (automations take them as string keyword arguments). */
  extra: Record<string, string>;
  args: string[];
}

export interface JobCommand {
  name: string;
  summary: string;
  options: JobOption[];
  /** Positional arguments in commander syntax, e.g. `<file> <experiment>`. */
  arguments?: string;
  allowExtraOptions?: boolean;
  leaderOnly?: boolean;
  subcommands?: JobCommand[];
  /** Resolves with the process exit code when the job or action is over. */
  run(input: JobRunInput): Promise<number>;
}

const CLICK_TRUE = new Set(["1", "true", "t", "yes", "y", "on"]);
const CLICK_FALSE = new Set(["0", "false", "f", "no", "n", "off"]);

/** click.BOOL */
export function parseBool(name: string): (v: string) => boolean {
  return (v) => {
    const s = v.trim().toLowerCase();
    if (CLICK_TRUE.has(s)) return true;
    if (CLICK_FALSE.has(s)) return false;
    throw new UsageError(`Invalid value for '${name}': '${v}' is not a valid boolean.`);
  };
}

/** click.FLOAT */
export function parseFloatOption(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v.trim());
    if (v.trim() === "" || Number.isNaN(n)) throw new UsageError(`Invalid value for '${name}': '${v}' is not a valid float.`);
    return n;
  };
}

/** click.INT */
export function parseIntOption(name: string): (v: string) => number {
  return (v) => {
    const s = v.trim();
    if (!/^[+-]?\d+$/.test(s)) throw new UsageError(`Invalid value for '${name}': '${v}' is not a valid integer.`);
    return Number(s);
  };
}

/** click.FloatRange, clamping or refusing out-of-range values with the allowed range in the message. */
export function parseFloatRange(name: string, min: number, max: number, clamp = false): (v: string) => number {
  const asFloat = parseFloatOption(name);
  return (v) => {
    const n = asFloat(v);
    if (n >= min && n <= max) return n;
    if (clamp) return Math.min(max, Math.max(min, n));
    throw new UsageError(`Invalid value for '${name}': ${v} is not in the range ${min}<=x<=${max}.`);
  };
}

/**
 * Waits, in the foreground, until a started job disconnects (by `$state/set`, a failure, or a
 * signal: `pio run` turns SIGINT, SIGTERM and SIGHUP into `UnitContext.requestStop`, installed
 * before the job starts so a signal during start-up also stops it gracefully).
 */
export async function runInForeground(job: BackgroundJob, waitFor?: Promise<unknown>): Promise<number> {
  if (waitFor) await waitFor;
  await job.blockUntilDisconnected();
  return 0;
}
