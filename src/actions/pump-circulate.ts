/**
 * `circulate_media` / `circulate_alt_media`: exchange the vial's liquid for `duration` seconds —
 * waste runs continuously while the inflow pump is pulsed for `ratio` of every second, so the
 * inflow never outpaces the outflow (0.85 by default, less if calibrations show a faster inflow
 * pump). One `remove_waste` event of 20 mL is announced first: the level ends at the efflux tube.
 */
import { CliError } from "../cli/exit";
import { JobLogger, type Logger } from "../jobs/logger";
import { encodeMsgspecJson } from "../pubsub/codec";
import { formatPayloadTimestamp } from "../util/python-format";
import { activeOrDefaultCalibration, openPumpLifecycle, type PumpEnvironment, pumpChannel, pumpPwm, waitOrAbort } from "./pump";
import { durationToMl, isDefaultCalibration, mlPerSecond, type PumpDevice } from "./pump-calibration";

export async function circulate(
  device: Exclude<PumpDevice, "waste_pump">,
  env: PumpEnvironment,
  request: { duration: number; sourceOfEvent?: string | null },
): Promise<{ mediaMl: number; wasteMl: number }> {
  const action = device === "media_pump" ? "circulate_media" : "circulate_alt_media";
  if (!(request.duration >= 0)) throw new RangeError(`--duration must be ≥ 0 seconds (got ${request.duration}).`);
  let logger: Logger = env.logger ?? new JobLogger({ task: action, source: "app", unit: env.unit, experiment: env.experiment }, env.clock, env.logSinks ?? []);
  const wasteChannel = pumpChannel(env.config, "waste_pump");
  const inChannel = pumpChannel(env.config, device);
  if (!wasteChannel || !inChannel) throw new CliError(`Add \`waste\` and \`${device.replace(/_pump$/, "")}\` to the [PWM] section of config_${env.unit}.ini.`);
  const wasteCal = activeOrDefaultCalibration(env, "waste_pump");
  const inCal = activeOrDefaultCalibration(env, device);
  let ratio = 0.85;
  if (!isDefaultCalibration(wasteCal) && !isDefaultCalibration(inCal)) {
    if (mlPerSecond(inCal) > mlPerSecond(wasteCal)) ratio = Math.min(mlPerSecond(wasteCal) / mlPerSecond(inCal), ratio);
  } else {
    logger.warning("Calibrations don't exist for pump(s). Keep an eye on the liquid level to avoid overflowing!");
  }

  const opened = await openPumpLifecycle(env, action, logger);
  const lifecycle = opened.lifecycle;
  logger = opened.logger;
  lifecycle.markReady();
  const makePwm = (channel: typeof wasteChannel, hz: number, tag: string) =>
    pumpPwm(env, lifecycle, logger, channel, hz, `${action}-${tag}-${lifecycle.jobId}`);
  const waste = makePwm(wasteChannel, wasteCal.hz, "waste");
  const inflow = makePwm(inChannel, inCal.hz, "in");
  let dosingSeconds = 0;
  let wasteSeconds = 0;
  try {
    waste.lock();
    inflow.lock();
    logger.info("Running waste continuously.");
    lifecycle.publish(
      `pioreactor/${env.unit}/${env.experiment}/dosing_events`,
      encodeMsgspecJson({ volume_change: 20.0, event: "remove_waste", source_of_event: request.sourceOfEvent ?? null, timestamp: formatPayloadTimestamp(env.clock.now()) }),
      { qos: 2, retain: false },
    );
    const wasteStarted = env.clock.now();
    await waste.start(wasteCal.dc);
    await env.clock.sleep(1000);
    logger.info(`Running ${device} for ${request.duration}s.`);
    let elapsed = 0;
    while (!lifecycle.stopRequested && elapsed < request.duration) {
      const pulse = Math.min(request.duration - dosingSeconds, ratio);
      await inflow.start(inCal.dc);
      const stopped = await waitOrAbort(env.clock, pulse * 1000, lifecycle.signal);
      await inflow.stop();
      dosingSeconds += pulse;
      if (stopped) break;
      await waitOrAbort(env.clock, (1 - ratio) * 1000, lifecycle.signal);
      elapsed += 1;
    }
    await env.clock.sleep(1000);
    wasteSeconds = (env.clock.now() - wasteStarted) / 1000;
    await waste.stop();
    logger.info("Stopped pumps.");
  } finally {
    await inflow.cleanup();
    await waste.cleanup();
    await lifecycle.close();
  }
  return { mediaMl: durationToMl(inCal, dosingSeconds), wasteMl: durationToMl(wasteCal, wasteSeconds) };
}
