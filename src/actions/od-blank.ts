/**
 * `od_blank`: measures the media's own OD signal before inoculation. Runs od_reading on the scratch
 * experiment `_testing_<exp>` (so nothing reaches the experiment's data), takes `n` readings,
 * keeps a trimmed mean per channel in the persistent cache `od_blank[<exp>]` (od_reading subtracts
 * it from then on) and publishes it retained on `…/od_blank/means`. `od_blank delete` removes it.
 */
import { UsageError } from "../cli/exit";
import { encodeMsgspecJson } from "../pubsub/codec";
import type { PdChannel } from "../pubsub/structs";
import type { PubSubClient } from "../pubsub/types";
import { pythonJsonDumps } from "../util/python-format";
import type { JobDeps } from "../jobs/background-job";
import { type JobCommand, parseIntOption } from "../jobs/job-command";
import type { KeyValueCache } from "../jobs/local-storage";
import type { Logger } from "../jobs/logger";
import { OdReader, type OdReadingHardware, type OdReadingStorage } from "../jobs/od-reading";
import { odEntries, type OdReadingsPayload } from "../jobs/od-reading-calibration";

/** Mean after dropping the `cut` smallest and largest values (the original's trimmed_mean). */
export function trimmedMean(values: readonly number[], cut = 2): number {
  const sorted = [...values].sort((a, b) => a - b);
  const kept = sorted.slice(cut, sorted.length - cut);
  if (kept.length === 0) throw new Error(`Need more than ${2 * cut} samples for a trimmed mean, got ${values.length}.`);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

export interface OdBlankDeps {
  /** Job deps for the od_reading run: experiment must be the scratch `_testing_<exp>`. */
  odDeps: JobDeps;
  hardware: OdReadingHardware;
  storage: OdReadingStorage;
  /** Persistent `od_blank`. */
  blanks: KeyValueCache;
  client: PubSubClient;
  logger: Logger;
  unit: string;
  experiment: string;
  /** Seconds between the blank's OD readings (1.5 in the original). */
  interval?: number;
  /** Whether od_reading already runs (blanks must be taken before it starts). */
  odReadingRunning: boolean;
}

/** Collects `nSamples` readings and stores their per-channel trimmed means. Returns them. */
export async function odBlank(deps: OdBlankDeps, nSamples = 30): Promise<Map<PdChannel, number>> {
  const { logger, unit, experiment } = deps;
  if (!Number.isInteger(nSamples) || nSamples < 5) {
    throw new UsageError(`--n-samples must be an integer >= 5 (the two highest and lowest are dropped), got ${nSamples}.`);
  }
  logger.info("Starting blank OD calibration.");
  if (deps.odReadingRunning) {
    logger.error("OD Reading should be off. Perform OD Blanking _before_ OD Reading.");
    throw new UsageError("OD Reading should be off. Perform OD Blanking _before_ OD Reading. Stop it with `pio kill --job-name od_reading`.");
  }
  const scratch = deps.odDeps.experiment;
  deps.storage.irLedReferenceNormalization.delete(scratch);
  const readings = new Map<PdChannel, number[]>();
  let count = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const od = new OdReader(deps.odDeps, deps.hardware, deps.storage, { interval: deps.interval ?? 1.5 });
  od.addPostReadCallback((batch: OdReadingsPayload | undefined) => {
    if (!batch || count >= nSamples) return;
    count += 1;
    for (const [channel, r] of odEntries(batch)) {
      if (!readings.has(channel)) readings.set(channel, []);
      readings.get(channel)!.push(r.od);
    }
    logger.debug(`Progress: ${Math.round((100 * count) / nSamples)}%`);
    if (count === nSamples) resolveDone();
  });
  logger.info(`Starting to compute statistics from OD readings. Collecting ${nSamples} data points. This may take a while.`);
  try {
    await od.start();
    await done;
  } finally {
    await od.stop();
    deps.storage.irLedReferenceNormalization.delete(scratch);
  }
  const means = new Map<PdChannel, number>();
  for (const [channel, series] of readings) {
    const m = trimmedMean(series, 2);
    means.set(channel, m);
    if (m === 0) {
      logger.warning(
        `OD reading for PD Channel ${channel} is 0.0 - that shouldn't be. Is there a loose connection, or an extra channel in the configuration's [od_config.photodiode_channel] section?`,
      );
    }
  }
  const asObject = Object.fromEntries(means);
  logger.debug(`measured mean: ${pythonJsonDumps(asObject)}`);
  // The cache holds Python's json.dumps text (with spaces), the topic msgspec's compact JSON, as the original.
  deps.blanks.set(experiment, pythonJsonDumps(asObject));
  await deps.client.publish(`pioreactor/${unit}/${experiment}/od_blank/means`, encodeMsgspecJson(asObject), { qos: 1, retain: true });
  logger.info("Finished computing blank ODs.");
  return means;
}

/** Removes the experiment's blank and its retained topics; nothing happens when there is none. */
export async function deleteOdBlank(blanks: KeyValueCache, client: PubSubClient, unit: string, experiment: string): Promise<boolean> {
  const text = blanks.getString(experiment);
  if (text === undefined) return false;
  await client.publish(`pioreactor/${unit}/${experiment}/od_blank/means`, "", { qos: 1, retain: true });
  for (const channel of Object.keys(JSON.parse(text) as Record<string, number>)) {
    await client.publish(`pioreactor/${unit}/${experiment}/od_blank/mean/${channel}`, "", { qos: 1, retain: true });
  }
  blanks.delete(experiment);
  return true;
}

const deleteCommand: JobCommand = {
  name: "delete",
  summary: "Delete the OD blank of an experiment.",
  options: [{ flags: "--experiment <name>", description: "delete particular experiment" }],
  async run({ ctx, options }) {
    const experiment = (options.experiment as string | undefined) ?? (await ctx.experiment());
    const client = await ctx.connect({ clientIdBase: `od_blank-${ctx.unit}-${experiment}`, keepalive: 60, clean: true });
    try {
      await deleteOdBlank(ctx.persistentCache("od_blank"), client, ctx.unit, experiment);
    } finally {
      await client.end();
    }
    return 0;
  },
};

export const odBlankCommand: JobCommand = {
  name: "od_blank",
  summary: "Compute statistics about the blank OD time series",
  options: [{ flags: "--n-samples <n>", description: "Number of samples", parse: parseIntOption("--n-samples"), defaultValue: 30 }],
  subcommands: [deleteCommand],
  async run({ ctx, options }) {
    const { odReadingParts } = require("../jobs/od-reading") as typeof import("../jobs/od-reading");
    const { JobLogger, MqttLogSink } = require("../jobs/logger") as typeof import("../jobs/logger");
    const experiment = await ctx.experiment();
    const odDeps = await ctx.jobDeps(`_testing_${experiment}`);
    const { hardware, storage } = await odReadingParts(ctx, ctx.testing);
    const client = await ctx.connect({ clientIdBase: `od_blank-${ctx.unit}-${experiment}`, keepalive: 300, clean: true });
    const logger = new JobLogger({ task: "od_blank", source: "app", unit: ctx.unit, experiment }, ctx.clock, [
      ...ctx.logSinks(),
      new MqttLogSink(client),
    ]);
    // The action's own lifecycle on the wire (init → ready → disconnected), as managed_lifecycle publishes it.
    const stateTopic = `pioreactor/${ctx.unit}/${experiment}/od_blank/$state`;
    try {
      await client.publish(stateTopic, "init", { qos: 2, retain: true });
      await client.publish(stateTopic, "ready", { qos: 2, retain: true });
      await odBlank(
        {
          odDeps,
          hardware,
          storage,
          blanks: ctx.persistentCache("od_blank"),
          client,
          logger,
          unit: ctx.unit,
          experiment,
          interval: ctx.testing ? 0.01 : 1.5,
          odReadingRunning: ctx.registry().runningJobId("od_reading") !== undefined,
        },
        options.nSamples as number,
      );
      return 0;
    } finally {
      await client.publish(stateTopic, "disconnected", { qos: 2, retain: true });
      await client.end();
    }
  },
};
