/**
 * How a simulated unit builds each job a profile (or the web UI) starts: the same job classes
 * `pio run` runs on a Pioreactor, composed with the unit's simulated hardware, caches and bus
 * connection instead of a Pi's. Options arrive as the unit API receives them (`{target_rpm: 400.0}`,
 * `{automation_name: "turbidostat", target_biomass: 2.5}`) and are turned into what the job's CLI
 * command would have parsed from `--target-rpm 400.0`.
 */
import { runPump } from "../actions/pump";
import type { PumpDevice } from "../actions/pump-calibration";
import { LedController } from "../actions/led-intensity";
import { dosingAutomations, ledAutomations, temperatureAutomations } from "../automations/commands";
import type { DosingContext } from "../automations/dosing/base";
import type { LedSetter } from "../automations/led/base";
import { twoNodeCoolingModel } from "../automations/temperature/inference";
import type { TemperatureContext } from "../automations/temperature/base";
import type { LedChannel } from "../hardware/ports";
import type { BackgroundJob, JobDeps } from "../jobs/background-job";
import { GrowthRateCalculator } from "../jobs/growth-rate-calculating";
import { JobLogger, MqttLogSink } from "../jobs/logger";
import { OdReader } from "../jobs/od-reading";
import { RpmFromEdges } from "../jobs/rpm";
import { Stirrer } from "../jobs/stirring";
import type { SimUnitParts } from "./sim-unit-parts";

/** Option values as text, the way a `pio run <job> --key value` child would receive them. */
export type JobOptions = Record<string, string>;

/** A long-running job, or a one-shot action that is over when its promise settles. */
export type Started = { kind: "job"; job: BackgroundJob } | { kind: "action"; done: Promise<void> };

export class UnknownJobError extends Error {
  override readonly name = "UnknownJobError";
}

function num(options: JobOptions, key: string): number | undefined {
  const v = options[key];
  if (v === undefined || v === "" || v === "None") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`Invalid value for '--${key.replace(/_/g, "-")}': '${v}' is not a valid float.`);
  return n;
}

function bool(options: JobOptions, key: string): boolean | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  return ["1", "true", "True", "yes", "on"].includes(v);
}

/** Automation arguments: everything but the name, as strings (as the original passes them). */
function automationArgs(options: JobOptions): { name: string; args: Record<string, string> } {
  const { automation_name: name, ...args } = options;
  if (!name) throw new Error("Missing --automation-name.");
  return { name, args };
}

function pick<C>(family: string, registry: Record<string, (d: JobDeps, c: C, a: Record<string, string>) => BackgroundJob>, name: string) {
  const factory = registry[name];
  if (!factory) throw new Error(`Unable to find ${name}. Available ${family} automations are ${Object.keys(registry).join(", ")}.`);
  return factory;
}

function ledController(parts: SimUnitParts, deps: JobDeps, task: string, publish: LedControllerPublish): LedController {
  return new LedController({
    unit: deps.unit,
    experiment: deps.experiment,
    clock: deps.clock,
    driver: parts.sim.backend.ledDriver,
    leds: parts.intermittentCache("leds"),
    locks: parts.intermittentCache("led_locks"),
    publish,
    logger: new JobLogger({ task, source: "app", unit: deps.unit, experiment: deps.experiment }, deps.clock, deps.logSinks),
  });
}

type LedControllerPublish = ConstructorParameters<typeof LedController>[0]["publish"];

function dosingContext(parts: SimUnitParts, deps: JobDeps): DosingContext {
  const env = parts.pumpEnvironment(deps);
  return {
    pumps: {
      run: (device, request, via) => runPump(device, { ...env, connect: undefined, shared: via.shared, logger: via.logger }, request),
      hasActiveCalibration: (device) => parts.calibrations.active(device) !== undefined,
    },
    bioreactor: parts.bioreactor,
    model: parts.model,
  };
}

function temperatureContext(parts: SimUnitParts): TemperatureContext {
  return {
    backend: parts.sim.backend,
    pwmDutyCycles: parts.intermittentCache("pwm_dc"),
    pwmLocks: parts.intermittentCache("pwm_locks"),
    heatingCache: parts.intermittentCache("temperature_and_heating"),
    bioreactor: parts.bioreactor,
    model: parts.model,
    // The original's regression was fitted to real PCBs; on the simulator's thermal constants it
    // runs away (test/automations/thermostat-sim.test.ts). This is the same inference, calibrated
    // to the simulated PCB, as a real unit's would be to its own hardware.
    vialTemperatureModel: twoNodeCoolingModel(parts.sim.bioreactor.params().thermal),
    testing: true,
  };
}

const PUMP_ACTIONS: Record<string, PumpDevice> = { add_media: "media_pump", add_alt_media: "alt_media_pump", remove_waste: "waste_pump" };

/**
 * Builds (but does not start) the job `jobName`, or runs the one-shot action. `connectLeds` opens
 * the extra bus connection an LED automation's LedController publishes on (closed with the job).
 */
export async function buildJob(jobName: string, deps: JobDeps, options: JobOptions, parts: SimUnitParts): Promise<Started> {
  switch (jobName) {
    case "stirring": {
      const backend = parts.sim.backend;
      const useRpm = deps.config.getBoolean("stirring.config", "use_rpm", true);
      const job = new Stirrer(
        deps,
        {
          backend,
          rpmCalculator: useRpm ? new RpmFromEdges(backend.rpmSensor, deps.clock) : undefined,
          pwmDutyCycles: parts.intermittentCache("pwm_dc"),
          pwmLocks: parts.intermittentCache("pwm_locks"),
        },
        {
          targetRpm: num(options, "target_rpm"),
          dutyCycle: num(options, "duty_cycle"),
          enableDodgingOd: bool(options, "enable_dodging_od") ?? deps.config.getBoolean("stirring.config", "enable_dodging_od", false),
          targetRpmDuringOdReading: num(options, "target_rpm_during_od_reading"),
          targetRpmOutsideOdReading: num(options, "target_rpm_outside_od_reading"),
        },
      );
      return { kind: "job", job };
    }
    case "od_reading": {
      const irLed = options.ir_led_intensity;
      const job = new OdReader(deps, { backend: parts.sim.backend }, parts.odStorage(), {
        interval: num(options, "interval"),
        irLedIntensity: irLed === "auto" ? "auto" : num(options, "ir_led_intensity"),
        random: parts.random,
        ...(parts.adcOversampling !== undefined ? { oversampling: parts.adcOversampling } : {}),
      });
      return { kind: "job", job };
    }
    case "growth_rate_calculating":
      return { kind: "job", job: new GrowthRateCalculator(deps, parts.persistentCache("od_normalization_mean")) };
    case "dosing_automation": {
      const { name, args } = automationArgs(options);
      return { kind: "job", job: pick("dosing", dosingAutomations(), name)(deps, dosingContext(parts, deps), args) };
    }
    case "temperature_automation": {
      const { name, args } = automationArgs(options);
      return { kind: "job", job: pick("temperature", temperatureAutomations(), name)(deps, temperatureContext(parts), args) };
    }
    case "led_automation": {
      const { name, args } = automationArgs(options);
      const client = await deps.connect({ clientIdBase: `led_automation-leds-${deps.unit}-${deps.experiment}`, keepalive: 60, clean: true });
      const controller = ledController(parts, { ...deps, logSinks: [...deps.logSinks, new MqttLogSink(client)] }, "led_automation", (t, p, o) =>
        client.publish(t, p, o),
      );
      const setter: LedSetter = {
        setIntensity: (channel, percent, sourceOfEvent) => controller.setIntensities({ [channel]: percent }, { verbose: true, sourceOfEvent }),
      };
      const job = pick("led", ledAutomations(), name)(deps, setter, args);
      void job.disconnectedPromise.then(() => client.end());
      return { kind: "job", job };
    }
    case "led_intensity": {
      const client = await deps.connect({ clientIdBase: `led_intensity-${deps.unit}`, keepalive: 60, clean: true });
      const controller = ledController(parts, deps, "led_intensity", (t, p, o) => client.publish(t, p, o));
      const request: Partial<Record<LedChannel, number>> = {};
      for (const c of ["A", "B", "C", "D"] as const) {
        const v = num(options, c);
        if (v !== undefined) request[c] = v;
      }
      const source = options.source_of_event ?? deps.jobSource;
      const done = controller.setIntensities(request, { verbose: true, sourceOfEvent: source }).then(() => client.end());
      return { kind: "action", done };
    }
    default: {
      const device = PUMP_ACTIONS[jobName];
      if (!device) throw new UnknownJobError(`The simulator has no job called ${jobName}.`);
      const env = parts.pumpEnvironment(deps);
      const ml = num(options, "ml");
      const duration = num(options, "duration");
      const done = runPump(device, env, { ml, duration, sourceOfEvent: options.source_of_event ?? deps.jobSource }).then(() => undefined);
      return { kind: "action", done };
    }
  }
}
