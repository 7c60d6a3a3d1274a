/**
 * `add_media`, `add_alt_media`, `remove_waste`: run one peristaltic pump by volume, by duration
 * or continuously, inside a managed lifecycle, announcing the liquid moved as `dosing_events`
 * (QoS 2, not retained) in 0.5 s chunks *before* the liquid moves, as the original does, so the
 * sum of the events equals the returned volume even when the pump is stopped early.
 *
 * Safety beyond the original:
 * - a volume interlock refuses an addition that would take the projected vial volume over the
 *   vessel's capacity (the original only guards continuous inflow and the dosing automation);
 * - the pump stops when its broker connection drops (the original only with its own client).
 */
import type { ConfigReader } from "../config/types";
import type { HardwareBackend, PwmChannel } from "../hardware/ports";
import type { ConnectRequest } from "../jobs/background-job";
import type { KeyValueCache } from "../jobs/local-storage";
import { JobLogger, type Logger, type LogSink, MqttLogSink } from "../jobs/logger";
import { ManagedLifecycle, type SharedTransport } from "../jobs/managed-lifecycle";
import { PwmError, PwmOutput } from "../jobs/pwm-output";
import { type JobRegistry, processIsAlive } from "../jobs/registry";
import type { BioreactorState } from "../automations/bioreactor-state";
import type { ReactorModel } from "../automations/reactor-model";
import { encodeMsgspecJson } from "../pubsub/codec";
import type { PubSubClient } from "../pubsub/types";
import type { Clock } from "../util/clock";
import { formatPayloadTimestamp } from "../util/python-format";
import {
  CalibrationError,
  defaultPumpCalibration,
  durationToMl,
  isDefaultCalibration,
  mlToDuration,
  type PumpCalibration,
  type PumpCalibrationSource,
  type PumpDevice,
} from "./pump-calibration";

export type PumpAction = "add_media" | "add_alt_media" | "remove_waste";

export const ACTION_OF_DEVICE: Record<PumpDevice, PumpAction> = {
  media_pump: "add_media",
  alt_media_pump: "add_alt_media",
  waste_pump: "remove_waste",
};

/** How often progress is published while a pump runs (seconds). */
export const DOSING_EVENT_INTERVAL_S = 0.5;

export class VolumeInterlockError extends Error {
  override name = "VolumeInterlockError";
}

/** Everything a pump action touches on its unit, injected. */
export interface PumpEnvironment {
  unit: string;
  experiment: string;
  clock: Clock;
  config: ConfigReader;
  registry: JobRegistry;
  backend: HardwareBackend;
  pwmDutyCycles: KeyValueCache;
  pwmLocks: KeyValueCache;
  calibrations: PumpCalibrationSource;
  bioreactor: BioreactorState;
  model: ReactorModel;
  /** Testing mode: the uncalibrated default pumps 5 mL/s instead of 0.0911 mL/s. */
  testing: boolean;
  jobSource: string;
  pid: number;
  leader: string;
  /** Own connection (a CLI run) … */
  connect?: (request: ConnectRequest) => Promise<PubSubClient>;
  /** … or the host job's (a dosing automation). */
  shared?: SharedTransport;
  /** Where to log; default a logger named after the action (plus MQTT on an own connection). */
  logger?: Logger;
  logSinks?: LogSink[];
}

export interface PumpRequest {
  ml?: number;
  duration?: number;
  continuously?: boolean;
  sourceOfEvent?: string | null;
  /** Use this calibration instead of the active one. */
  calibration?: PumpCalibration;
  /** Stops the pump early (a signal to the CLI process). */
  stop?: AbortSignal;
}

function humanReadable(device: PumpDevice, ml: number | undefined, duration: number | undefined): string {
  const what = { media_pump: ["Adding media", "mL media"], alt_media_pump: ["Adding alt-media", "mL alt-media"], waste_pump: ["Removing waste", "mL waste"] }[
    device
  ];
  if (duration !== undefined) return `${what[0]} for ${pyRound(duration, 2)}s.`;
  const verb = device === "waste_pump" ? "Removing" : "Adding";
  return `${verb} ${pyRound(ml ?? 0, 3)} ${what[1]}.`;
}

/** Python's `round(x, n)` printed with `str()` (always a float: `0.5`, `1.0`). */
function pyRound(x: number, digits: number): string {
  const r = Math.round(x * 10 ** digits) / 10 ** digits;
  return Number.isInteger(r) ? `${r}.0` : String(r);
}

export function activeOrDefaultCalibration(env: Pick<PumpEnvironment, "calibrations" | "testing">, device: PumpDevice): PumpCalibration {
  return env.calibrations.active(device) ?? defaultPumpCalibration(env.testing);
}

function calibrationMissing(device: PumpDevice): string {
  return `Active calibration not found. Run ${device} calibration first: \`pio calibrations run --device ${device}\` or set active with \`pio calibrations set-active\``;
}

/** The PWM channel `[PWM]` assigns to this pump (`media`, `alt_media`, `waste`). */
export function pumpChannel(config: ConfigReader, device: PumpDevice): PwmChannel | undefined {
  const channel = config.get("PWM_reverse", device.replace(/_pump$/, ""));
  return channel ? (channel.trim() as PwmChannel) : undefined;
}

/**
 * Refuses an addition that would take the projected vial volume past the vessel's capacity.
 * Waste removal is never refused.
 */
export function checkVolumeInterlock(env: Pick<PumpEnvironment, "bioreactor" | "model" | "experiment">, device: PumpDevice, ml: number): void {
  if (device === "waste_pump") return;
  const current = env.bioreactor.get(env.experiment, "current_volume_ml");
  const capacity = env.model.reactorCapacityMl;
  if (current + ml > capacity) {
    throw new VolumeInterlockError(
      `Refusing to add ${pyRound(ml, 3)} mL: the vial holds about ${current.toFixed(2)} mL and ${env.model.modelName} holds at most ${capacity} mL (allowed: at most ${Math.max(0, capacity - current).toFixed(2)} mL now). Remove waste first, or correct the recorded volume if it is wrong.`,
    );
  }
}

/** Waits `ms` on the clock, or less if `signal` aborts; resolves true when aborted. */
export function waitOrAbort(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      timer.cancel();
      resolve(true);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(false);
    }, Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs one pump action; resolves with the mL moved (the sum of the dosing events it published). */
/**
 * The action lifecycle a pump runs under (`$state` init/ready/disconnected, stop requests, the
 * last will, pumps stopping when the broker goes), and a logger that also reaches MQTT when the
 * lifecycle has its own connection.
 */
export async function openPumpLifecycle(
  env: PumpEnvironment,
  action: string,
  logger: Logger,
): Promise<{ lifecycle: ManagedLifecycle; logger: Logger }> {
  const lifecycle = await ManagedLifecycle.open({
    unit: env.unit,
    experiment: env.experiment,
    name: action,
    registry: env.registry,
    jobSource: env.jobSource,
    pid: env.pid,
    leader: env.leader,
    connect: env.connect,
    shared: env.shared,
    stopOnBrokerDisconnect: true,
    keepaliveSeconds: 10,
  });
  const withMqtt =
    !env.logger && lifecycle.ownConnection && logger instanceof JobLogger ? logger.withSink(new MqttLogSink(lifecycle.ownConnection)) : logger;
  return { lifecycle, logger: withMqtt };
}

/** A pump's PWM output, publishing `pwms/dc` on the action's lifecycle connection. */
export function pumpPwm(
  env: PumpEnvironment,
  lifecycle: ManagedLifecycle,
  logger: Logger,
  channel: PwmChannel,
  hz: number,
  ownerTag: string,
): PwmOutput {
  return new PwmOutput({
    pwm: env.backend.pwm(channel, hz),
    unit: env.unit,
    experiment: env.experiment,
    dutyCycles: env.pwmDutyCycles,
    locks: env.pwmLocks,
    publish: (topic, payload) => lifecycle.publish(topic, payload, { qos: 0, retain: true }),
    logger,
    pid: env.pid,
    isAlive: processIsAlive,
    ownerTag,
  });
}

export async function runPump(device: PumpDevice, env: PumpEnvironment, request: PumpRequest): Promise<number> {
  const action = ACTION_OF_DEVICE[device];
  const modes = [request.ml !== undefined, request.duration !== undefined, request.continuously === true].filter(Boolean).length;
  if (modes !== 1) throw new Error("Select exactly one of --ml, --duration or --continuously.");
  if (request.ml !== undefined && !(request.ml >= 0)) throw new RangeError(`--ml must be ≥ 0 (got ${request.ml}).`);
  if (request.duration !== undefined && !(request.duration >= 0)) throw new RangeError(`--duration must be ≥ 0 seconds (got ${request.duration}).`);

  let logger: Logger = env.logger ?? new JobLogger({ task: action, source: "app", unit: env.unit, experiment: env.experiment }, env.clock, env.logSinks ?? []);

  const continuousInflow = request.continuously === true && device !== "waste_pump";
  const maxFill = env.model.reactorMaxFillVolumeMl;
  const currentVolume = () => env.bioreactor.get(env.experiment, "current_volume_ml");
  if (continuousInflow && currentVolume() >= maxFill) {
    logger.warning(`Skipping continuous ${device} because the vial is already at the maximum safe volume.`);
    return 0;
  }

  const channel = pumpChannel(env.config, device);
  if (!channel) {
    logger.error(`Config entry not found. Add \`${device.replace(/_pump$/, "")}\` to \`PWM\` section to config_${env.unit}.ini.`);
    return 0;
  }
  const calibration = request.calibration ?? activeOrDefaultCalibration(env, device);

  const opened = await openPumpLifecycle(env, action, logger);
  const lifecycle = opened.lifecycle;
  logger = opened.logger;
  if (request.stop?.aborted) lifecycle.requestStop("signal");
  request.stop?.addEventListener("abort", () => lifecycle.requestStop("signal"), { once: true });
  lifecycle.markReady();
  try {
    let ml = request.ml;
    let duration = request.duration;
    if ((ml !== undefined || continuousInflow) && isDefaultCalibration(calibration)) {
      logger.error(calibrationMissing(device));
      throw new CalibrationError(calibrationMissing(device));
    }
    if (ml !== undefined) {
      duration = mlToDuration(calibration, ml);
      checkVolumeInterlock(env, device, ml);
      logger.info(humanReadable(device, ml, undefined));
    } else if (duration !== undefined) {
      ml = durationToMl(calibration, duration);
      checkVolumeInterlock(env, device, ml);
      logger.info(humanReadable(device, undefined, duration));
    } else {
      logger.info(`Running ${device} continuously.`);
    }

    let pwm: PwmOutput;
    try {
      pwm = pumpPwm(env, lifecycle, logger, channel, calibration.hz, `${action}-${lifecycle.jobId}`);
      pwm.lock();
    } catch (e) {
      if (!(e instanceof PwmError)) throw e;
      logger.error(e.message);
      return 0;
    }

    const publishEvent = (volumeChange: number) =>
      lifecycle.publish(
        `pioreactor/${env.unit}/${env.experiment}/dosing_events`,
        encodeMsgspecJson({
          volume_change: volumeChange,
          event: action,
          source_of_event: request.sourceOfEvent ?? null,
          timestamp: formatPayloadTimestamp(env.clock.now()),
        }),
        { qos: 2, retain: false },
      );

    try {
      if (request.continuously) {
        return await runContinuously(env, pwm, calibration, lifecycle, publishEvent, logger, device, continuousInflow ? () => currentVolume() >= maxFill : () => false);
      }
      return await runFor(env.clock, pwm, calibration, lifecycle, publishEvent, logger, device, ml ?? 0, duration ?? 0);
    } finally {
      await pwm.cleanup();
    }
  } finally {
    await lifecycle.close();
  }
}

async function runFor(
  clock: Clock,
  pwm: PwmOutput,
  calibration: PumpCalibration,
  lifecycle: ManagedLifecycle,
  publishEvent: (v: number) => void,
  logger: Logger,
  device: PumpDevice,
  ml: number,
  seconds: number,
): Promise<number> {
  if (seconds <= 0) return 0;
  const started = clock.now();
  const endsAt = started + seconds * 1000;
  let announced = 0;
  await pwm.start(calibration.dc);
  for (;;) {
    const timeLeft = (endsAt - clock.now()) / 1000;
    if (timeLeft <= 1e-9) break;
    // Announce before moving so a reader never under-counts liquid in the vial.
    const chunk = timeLeft >= DOSING_EVENT_INTERVAL_S ? durationToMl(calibration, DOSING_EVENT_INTERVAL_S) : ml - announced;
    publishEvent(chunk);
    announced += chunk;
    if (await waitOrAbort(clock, Math.min(DOSING_EVENT_INTERVAL_S, timeLeft) * 1000, lifecycle.signal)) {
      await pwm.stop();
      const actual = durationToMl(calibration, (clock.now() - started) / 1000);
      publishEvent(actual - announced);
      logger.info(`Stopped ${device} early.`);
      return actual;
    }
  }
  await pwm.stop();
  const remaining = ml - announced;
  if (remaining > 0) publishEvent(remaining);
  return announced + Math.max(remaining, 0);
}

async function runContinuously(
  env: PumpEnvironment,
  pwm: PwmOutput,
  calibration: PumpCalibration,
  lifecycle: ManagedLifecycle,
  publishEvent: (v: number) => void,
  logger: Logger,
  device: PumpDevice,
  vialFull: () => boolean,
): Promise<number> {
  const started = env.clock.now();
  let announced = 0;
  await pwm.start(calibration.dc);
  while (!vialFull()) {
    if (await waitOrAbort(env.clock, DOSING_EVENT_INTERVAL_S * 1000, lifecycle.signal)) break;
    const chunk = durationToMl(calibration, DOSING_EVENT_INTERVAL_S);
    announced += chunk;
    publishEvent(chunk);
  }
  await pwm.stop();
  const actual = durationToMl(calibration, (env.clock.now() - started) / 1000);
  publishEvent(actual - announced);
  logger.info(`Stopped ${device}.`);
  return actual;
}

export const addMedia = (env: PumpEnvironment, request: PumpRequest) => runPump("media_pump", env, request);
export const addAltMedia = (env: PumpEnvironment, request: PumpRequest) => runPump("alt_media_pump", env, request);
export const removeWaste = (env: PumpEnvironment, request: PumpRequest) => runPump("waste_pump", env, request);
