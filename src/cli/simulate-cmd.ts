/**
 * `pio run profile FILE --simulate [--speed N | --fast] [--seed S] [--units a,b] [--out DIR]`:
 * the profile on a simulated cluster in this process (src/sim/run-profile.ts), with a progress
 * line on a terminal, a summary at the end, and charts, CSVs and the database in `--out`.
 *
 * `addSimulateOptions` adds the flags to the existing `pio run profile` command; its action calls
 * `runSimulatedProfile` when `--simulate` is given (see profile-cmd.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import type { Profile } from "../profiles/types";
import type { SimClockMode } from "../sim/run-profile";
import { CliError, EXIT_FAILURE, UsageError } from "./exit";

export interface SimulateCliDeps {
  cwd: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  setExitCode(code: number): void;
  /** For the default output folder name. */
  now?: () => Date;
}

export interface SimulateFlags {
  simulate?: boolean;
  speed?: string;
  fast?: boolean;
  seed?: string;
  units?: string;
  out?: string;
  adcSamples?: string;
  experiment?: string;
  threads?: string;
}

export function addSimulateOptions(cmd: Command): Command {
  return cmd
    .option("--simulate", "run on simulated units in this process (no Pi, no broker): progress, summary, charts and CSVs")
    .option("--fast", "with --simulate: jump from event to event (the default)")
    .option("--speed <n>", "with --simulate: run N× real time instead of jumping")
    .option("--seed <s>", "with --simulate: seed for the simulated cultures and sensor noise", "1")
    .option("--units <list>", "with --simulate: unit names, comma-separated (default: the profile's)")
    .option("--out <dir>", "with --simulate: output folder (default ./sim-output/<profile>-<timestamp>)")
    .option("--adc-samples <n>", "with --simulate: ADC sweeps per OD reading (hardware: 40)", "10")
    .option("--threads <n>", "with --simulate --fast: worker threads the units run in (default: one per core, at most one per unit; 1: all in this thread)");
}

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${flag} expects a positive number, got '${text}'.`);
  return n;
}

export function clockModeOf(flags: SimulateFlags): SimClockMode {
  if (flags.speed !== undefined && flags.fast) throw new UsageError("Use either --speed or --fast, not both.");
  return flags.speed !== undefined ? { kind: "speed", speed: positiveNumber("--speed", flags.speed) } : { kind: "fast" };
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z").replace("T", "-");
}

function slug(name: string): string {
  return path.basename(name, path.extname(name)).replace(/[^A-Za-z0-9_.-]+/g, "-");
}

/** `profile`: already validated, with `--input` overrides applied (else `text` is validated). */
export async function runSimulatedProfile(file: string, text: string, flags: SimulateFlags, deps: SimulateCliDeps, profile?: Profile): Promise<void> {
  const { simulateProfile } = require("../sim/run-profile") as typeof import("../sim/run-profile");
  const { progressLine, summaryText } = require("../sim/report") as typeof import("../sim/report");
  const out = deps.stdout ?? process.stdout;
  const err = (deps.stderr ?? process.stderr) as NodeJS.WriteStream;
  const mode = clockModeOf(flags);
  const seed = Number(flags.seed ?? "1");
  if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got '${flags.seed}'.`);
  const outDir = path.resolve(deps.cwd, flags.out ?? path.join("sim-output", `${slug(file)}-${stamp((deps.now ?? (() => new Date()))())}`));
  // Every flag is checked before anything is written: a bad one leaves no empty output folder.
  const adcOversampling = flags.adcSamples ? Math.round(positiveNumber("--adc-samples", flags.adcSamples)) : undefined;
  const threads = flags.threads ? Math.round(positiveNumber("--threads", flags.threads)) : undefined;
  fs.mkdirSync(outDir, { recursive: true });
  const tty = Boolean(err.isTTY);
  let lastShown = -1;
  let drawn = false;
  const clearLine = () => {
    if (drawn) err.write("\r\x1b[2K");
    drawn = false;
  };
  try {
    const result = await simulateProfile({
      text,
      filename: path.basename(file),
      ...(profile ? { profile } : {}),
      units: flags.units ? flags.units.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
      experiment: flags.experiment,
      seed,
      clock: mode,
      outDir,
      adcOversampling,
      threads,
      log: (line) => {
        clearLine();
        err.write(`${line}\n`);
      },
      progressEveryMs: tty ? 200 : 1000,
      onProgress: (p) => {
        if (tty) {
          err.write(`\r\x1b[2K${progressLine(p).slice(0, (err.columns ?? 160) - 1)}`);
          drawn = true;
          return;
        }
        // Not a terminal (CI, a log file): one line per tenth of the run.
        const tenth = Math.floor((10 * p.simulatedMs) / Math.max(1, p.horizonMs));
        if (tenth !== lastShown) {
          lastShown = tenth;
          err.write(`${progressLine(p)}\n`);
        }
      },
    });
    clearLine();
    out.write(`${summaryText(result, outDir)}\n`);
    deps.setExitCode(["finished", "stopped", "horizon"].includes(result.outcome.status) ? 0 : EXIT_FAILURE);
  } catch (e) {
    clearLine();
    if (e instanceof UsageError || e instanceof CliError) throw e;
    throw new CliError(`Simulation failed: ${(e as Error).message}`);
  }
}
