/**
 * CLI entries for the pump actions (`add_media`, `add_alt_media`, `remove_waste`,
 * `circulate_media`, `circulate_alt_media`) and `pumps`, a scripted sequence such as
 * `pio run pumps --media 1 --sleep 5 --waste 2`. User mistakes (bad numbers, no calibration, a
 * dose that would overflow) end with one clear line, never a stack trace.
 */
import path from "node:path";
import { CliError, UsageError } from "../cli/exit";
import { BioreactorState } from "../automations/bioreactor-state";
import { reactorModel } from "../automations/reactor-model";
import type { JobCommand, JobOption } from "../jobs/job-command";
import type { UnitContext } from "../jobs/unit-context";
import { circulate } from "./pump-circulate";
import { ACTION_OF_DEVICE, type PumpEnvironment, runPump, VolumeInterlockError } from "./pump";
import { CalibrationError, FilePumpCalibrations, type PumpDevice } from "./pump-calibration";

/** A non-negative float option, refused with the allowed range otherwise. */
export function parseNonNegative(flag: string, max = Number.POSITIVE_INFINITY): (v: string) => number {
  return (v) => {
    const n = Number(v.trim());
    if (v.trim() === "" || !Number.isFinite(n)) throw new UsageError(`Invalid value for '${flag}': '${v}' is not a valid float.`);
    if (n < 0 || n > max) {
      const range = Number.isFinite(max) ? `0<=x<=${max}` : "x>=0";
      throw new UsageError(`Invalid value for '${flag}': ${v} is not in the range ${range}.`);
    }
    return n;
  };
}

export async function pumpEnvironment(ctx: UnitContext): Promise<PumpEnvironment> {
  const experiment = await ctx.experiment();
  const deps = await ctx.jobDeps(experiment);
  const model = reactorModel(ctx.env.MODEL_NAME || "pioreactor_40ml", ctx.env.MODEL_VERSION || "1.5");
  return {
    unit: ctx.unit,
    experiment,
    clock: ctx.clock,
    config: ctx.config,
    registry: deps.registry,
    backend: await ctx.hardware(),
    pwmDutyCycles: ctx.intermittentCache("pwm_dc"),
    pwmLocks: ctx.intermittentCache("pwm_locks"),
    calibrations: new FilePumpCalibrations(ctx.persistentCache("active_calibrations"), path.join(ctx.dotPioreactor, "storage", "calibrations")),
    bioreactor: new BioreactorState(ctx.persistentCache("bioreactor"), ctx.config, model),
    model,
    testing: ctx.testing,
    jobSource: deps.jobSource,
    pid: deps.pid,
    leader: deps.leader,
    connect: deps.connect,
    logSinks: deps.logSinks,
  };
}

/** Turns user mistakes into one-line CLI errors. */
export async function asCliErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VolumeInterlockError || e instanceof CalibrationError || e instanceof RangeError) throw new CliError(e.message);
    if (e instanceof Error && e.message.startsWith("Select exactly one")) throw new UsageError(e.message);
    throw e;
  }
}

/** Graceful stop on SIGINT/SIGTERM: the pump finishes its bookkeeping and exits. */
function stopOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = () => controller.abort();
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, handler);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, handler);
    },
  };
}

const SOURCE_OPTION: JobOption = { flags: "--source-of-event <text>", description: "who is calling this function", defaultValue: "CLI" };

function pumpCommand(device: PumpDevice, summary: string): JobCommand {
  return {
    name: ACTION_OF_DEVICE[device],
    summary,
    options: [
      { flags: "--ml <ml>", description: "volume to move (needs a pump calibration)", parse: parseNonNegative("--ml") },
      { flags: "--duration <seconds>", description: "run the pump for this long", parse: parseNonNegative("--duration") },
      { flags: "--continuously", description: "run until stopped (inflow: until the maximum safe volume)" },
      SOURCE_OPTION,
    ],
    async run({ ctx, options }) {
      const env = await pumpEnvironment(ctx);
      const signals = stopOnSignals();
      try {
        await asCliErrors(() =>
          runPump(device, env, {
            ml: options.ml as number | undefined,
            duration: options.duration as number | undefined,
            continuously: options.continuously === true,
            sourceOfEvent: (options.sourceOfEvent as string | undefined) ?? "CLI",
            stop: signals.signal,
          }),
        );
        return 0;
      } finally {
        signals.dispose();
      }
    },
  };
}

export const addMediaCommand = pumpCommand("media_pump", "Add media to unit");
export const addAltMediaCommand = pumpCommand("alt_media_pump", "Add alt-media to unit");
export const removeWasteCommand = pumpCommand("waste_pump", "Remove waste/media from unit");

function circulateCommand(device: "media_pump" | "alt_media_pump", name: string, summary: string): JobCommand {
  return {
    name,
    summary,
    options: [{ flags: "--duration <seconds>", description: "how long to circulate", parse: parseNonNegative("--duration") }, SOURCE_OPTION],
    async run({ ctx, options }) {
      if (options.duration === undefined) throw new UsageError("Missing option '--duration'.");
      const env = await pumpEnvironment(ctx);
      await asCliErrors(() => circulate(device, env, { duration: options.duration as number, sourceOfEvent: (options.sourceOfEvent as string) ?? "CLI" }));
      return 0;
    },
  };
}

export const circulateMediaCommand = circulateCommand("media_pump", "circulate_media", "Cycle waste/media from unit");
export const circulateAltMediaCommand = circulateCommand("alt_media_pump", "circulate_alt_media", "Cycle waste/alt media from unit");

export type PumpStep = { kind: "media" | "alt_media" | "waste"; ml: number } | { kind: "sleep"; seconds: number };

const STEP_KEYS: Record<string, PumpStep["kind"]> = { media: "media", alt_media: "alt_media", waste: "waste", sleep: "sleep" };

/** `--media 1 --sleep 5 --waste_ 2 …` in order; a trailing `_` lets a key repeat. */
export function parsePumpSteps(tokens: string[]): PumpStep[] {
  const steps: PumpStep[] = [];
  for (let i = 0; i < tokens.length; i += 2) {
    const flag = tokens[i];
    const value = tokens[i + 1];
    const key = flag.replace(/^--/, "").replace(/-/g, "_").replace(/_+$/, "");
    const kind = STEP_KEYS[key];
    if (!flag.startsWith("--") || !kind) throw new UsageError(`Unknown step ${flag}: use --media, --alt_media, --waste (mL) or --sleep (s).`);
    if (value === undefined) throw new UsageError(`Option '${flag}' requires a value.`);
    const n = parseNonNegative(flag)(value);
    steps.push(kind === "sleep" ? { kind, seconds: n } : { kind, ml: n });
  }
  return steps;
}

export const pumpsCommand: JobCommand = {
  name: "pumps",
  summary: "Run a sequence of pumps: --media ML --sleep S --waste ML … (trailing _ to repeat a key).",
  options: [SOURCE_OPTION],
  allowExtraOptions: true,
  async run({ ctx, options, extra }) {
    const steps = parsePumpSteps(Object.entries(extra).flatMap(([k, v]) => [`--${k}`, v]));
    const env = await pumpEnvironment(ctx);
    const device: Record<string, PumpDevice> = { media: "media_pump", alt_media: "alt_media_pump", waste: "waste_pump" };
    for (const step of steps) {
      if (step.kind === "sleep") await ctx.clock.sleep(step.seconds * 1000);
      else await asCliErrors(() => runPump(device[step.kind], env, { ml: step.ml, sourceOfEvent: (options.sourceOfEvent as string) ?? "CLI" }));
    }
    return 0;
  },
};
