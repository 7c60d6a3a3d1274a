/**
 * `pio run dosing_automation|temperature_automation|led_automation --automation-name <name>
 * [--key value]…`: looks the automation up by name, passes the remaining `--key value` pairs as
 * its arguments (strings, as the original does) and runs it in the foreground. An unknown name or
 * an out-of-range argument ends with one line naming what is allowed.
 */
import { pumpEnvironment } from "../actions/pumps";
import { runPump } from "../actions/pump";
import { CliError, UsageError } from "../cli/exit";
import type { BackgroundJob, JobDeps } from "../jobs/background-job";
import { type JobCommand, runInForeground } from "../jobs/job-command";
import type { UnitContext } from "../jobs/unit-context";
import { AutomationSettingError } from "./base";
import { BioreactorState } from "./bioreactor-state";
import type { DosingContext } from "./dosing/base";
import type { LedSetter } from "./led/base";
import { reactorModel } from "./reactor-model";
import type { TemperatureContext } from "./temperature/base";

type Factory<C> = (deps: JobDeps, context: C, args: Record<string, string>) => BackgroundJob;

/** Dosing automations by `automation_name`. */
export function dosingAutomations(): Record<string, Factory<DosingContext>> {
  return {
    silent: (d, c, a) => new (require("./dosing/silent") as typeof import("./dosing/silent")).SilentDosing(d, c, numbersIn(a)),
    chemostat: (d, c, a) => new (require("./dosing/chemostat") as typeof import("./dosing/chemostat")).Chemostat(d, c, a as never),
    turbidostat: (d, c, a) => new (require("./dosing/turbidostat") as typeof import("./dosing/turbidostat")).Turbidostat(d, c, a as never),
    fed_batch: (d, c, a) => new (require("./dosing/fed-batch") as typeof import("./dosing/fed-batch")).FedBatch(d, c, a as never),
    pid_morbidostat: (d, c, a) => new (require("./dosing/pid-morbidostat") as typeof import("./dosing/pid-morbidostat")).PidMorbidostat(d, c, a as never),
  };
}

export function temperatureAutomations(): Record<string, Factory<TemperatureContext>> {
  return {
    thermostat: (d, c, a) => new (require("./temperature/thermostat") as typeof import("./temperature/thermostat")).Thermostat(d, c, a),
    only_record_temperature: (d, c) =>
      new (require("./temperature/only-record-temperature") as typeof import("./temperature/only-record-temperature")).OnlyRecordTemperature(d, c),
  };
}

export function ledAutomations(): Record<string, Factory<LedSetter>> {
  return {
    silent: (d, c) => new (require("./led/silent") as typeof import("./led/silent")).SilentLed(d, c),
    light_dark_cycle: (d, c, a) => new (require("./led/light-dark-cycle") as typeof import("./led/light-dark-cycle")).LightDarkCycle(d, c, a),
  };
}

/** The base-class volume arguments are numbers; everything else stays a string for the automation. */
function numbersIn(a: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ["alt_media_fraction", "current_volume_ml", "efflux_tube_volume_ml"]) if (a[k] !== undefined) out[k] = Number(a[k]);
  return out;
}

/**
 * Built-in automations of a family with the plugins' over them: a plugin automation of the same
 * name wins, as in the original, where the later subclass registration replaces the entry.
 */
export function withPluginAutomations<C>(
  family: "dosing" | "temperature" | "led",
  builtIns: Record<string, Factory<C>>,
  ctx: Pick<UnitContext, "env" | "cwd">,
): Record<string, Factory<C>> {
  const plugins = require("../plugins") as typeof import("../plugins");
  const registry = plugins.loadPlugins({ env: ctx.env, cwd: ctx.cwd });
  return { ...builtIns, ...registry.automations<C>(family) };
}

function pick<C>(family: string, registry: Record<string, Factory<C>>, name: unknown): Factory<C> {
  const factory = typeof name === "string" ? registry[name] : undefined;
  if (!factory) {
    throw new UsageError(`Unable to find ${String(name)}. Available ${family} automations are ${Object.keys(registry).join(", ")}.`);
  }
  return factory;
}

/** Builds and starts the job, turning argument mistakes into one-line errors. */
async function startAutomation(build: () => BackgroundJob): Promise<number> {
  let job: BackgroundJob;
  try {
    job = build();
  } catch (e) {
    if (e instanceof AutomationSettingError) throw new UsageError(e.message);
    throw e;
  }
  try {
    await job.start();
  } catch (e) {
    if (e instanceof Error && (e.name === "CalibrationError" || e.name === "JobPresentError")) throw new CliError(e.message);
    throw e;
  }
  return runInForeground(job);
}

/** Argument values must not mix with our own: `automation_name` is the only reserved key. */
function automationArgs(extra: Record<string, string>): Record<string, string> {
  const { automation_name: _ignored, ...rest } = extra;
  return rest;
}

const NAME_OPTION = { flags: "--automation-name <name>", description: "which automation to run" };

export const dosingAutomationCommand: JobCommand = {
  name: "dosing_automation",
  summary: "Start a dosing automation",
  options: [NAME_OPTION],
  allowExtraOptions: true,
  async run({ ctx, options, extra }) {
    const factory = pick("dosing", withPluginAutomations("dosing", dosingAutomations(), ctx), options.automationName);
    const env = await pumpEnvironment(ctx);
    const deps = await ctx.jobDeps(env.experiment);
    const dosing: DosingContext = {
      pumps: {
        run: (device, request, via) => runPump(device, { ...env, connect: undefined, shared: via.shared, logger: via.logger }, request),
        hasActiveCalibration: (device) => env.calibrations.active(device) !== undefined,
      },
      bioreactor: env.bioreactor,
      model: env.model,
    };
    return startAutomation(() => factory(deps, dosing, automationArgs(extra)));
  },
};

export const temperatureAutomationCommand: JobCommand = {
  name: "temperature_automation",
  summary: "Start a temperature automation",
  options: [NAME_OPTION],
  allowExtraOptions: true,
  async run({ ctx, options, extra }) {
    const factory = pick("temperature", withPluginAutomations("temperature", temperatureAutomations(), ctx), options.automationName);
    const experiment = await ctx.experiment();
    const deps = await ctx.jobDeps(experiment);
    const model = modelOf(ctx);
    const heating: TemperatureContext = {
      backend: await ctx.hardware(),
      pwmDutyCycles: ctx.intermittentCache("pwm_dc"),
      pwmLocks: ctx.intermittentCache("pwm_locks"),
      heatingCache: ctx.intermittentCache("temperature_and_heating"),
      bioreactor: new BioreactorState(ctx.persistentCache("bioreactor"), ctx.config, model),
      model,
      testing: ctx.testing,
    };
    return startAutomation(() => factory(deps, heating, automationArgs(extra)));
  },
};

/**
 * `led_automation` needs a `LedSetter`; the led_intensity action provides it. Until that is
 * wired in (`ledSetterFor`), the command refuses to start rather than pretend LEDs changed.
 */
export function ledAutomationCommand(ledSetterFor: (ctx: UnitContext, experiment: string) => Promise<LedSetter>): JobCommand {
  return {
    name: "led_automation",
    summary: "Start an LED automation",
    options: [NAME_OPTION],
    allowExtraOptions: true,
    async run({ ctx, options, extra }) {
      const factory = pick("led", withPluginAutomations("led", ledAutomations(), ctx), options.automationName);
      const experiment = await ctx.experiment();
      const deps = await ctx.jobDeps(experiment);
      const leds = await ledSetterFor(ctx, experiment);
      return startAutomation(() => factory(deps, leds, automationArgs(extra)));
    },
  };
}

function modelOf(ctx: UnitContext) {
  return reactorModel(ctx.env.MODEL_NAME || "pioreactor_40ml", ctx.env.MODEL_VERSION || "1.5");
}
