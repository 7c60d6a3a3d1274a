/**
 * Each simulated unit's own `/unit_api`, served by the leader's web server under
 * `/simulated_units/<unit>/unit_api/…`. It is the same express app a Pi's `pio serve` runs, composed
 * with the unit's registry, caches and an in-process job launcher and stopper instead of `pio run`
 * children and signals. The leader's fan-out reaches it over loopback HTTP like any other worker,
 * so every `/api` route that talks to workers works unchanged (see docs/JOB-RUNTIME.md).
 */
import fs from "node:fs";
import path from "node:path";
import express, { type Router } from "express";
import type { ConfigOverride } from "../../config/layered";
import type { ConfigReader } from "../../config/types";
import { renderMergedConfig } from "../../leader/web/api/config";
import { createApp } from "../../leader/web/app";
import type { PubSubClient } from "../../pubsub/types";
import type { Clock } from "../../util/clock";
import type { SimUnit } from "../sim-unit";
import { SimUnitJobLauncher } from "./sim-job-launcher";
import { SimUnitJobStopper } from "./sim-job-stopper";

export const SIM_UNITS_PATH = "/simulated_units";

/** The path under the leader's server where `unit`'s `/unit_api` lives. */
export function simUnitPathPrefix(unit: string): string {
  return `${SIM_UNITS_PATH}/${encodeURIComponent(unit)}`;
}

export interface SimUnitApisDeps {
  units: ReadonlyMap<string, SimUnit>;
  /** The leader's `$DOT_PIOREACTOR`; each unit gets `<dot>/simulated/<unit>/` as its own. */
  dotPioreactor: string;
  config: () => ConfigReader;
  /** The web server's clock (tasks, debouncing); the units' jobs run on the simulation's. */
  clock: Clock;
  mqtt: Pick<PubSubClient, "publish">;
  fetch: typeof fetch;
  unitBaseUrl: (unit: string) => string;
  /** The experiment a direct `/unit_api` run request without `EXPERIMENT` goes to. */
  currentExperiment(): string;
  testing?: boolean;
}

/**
 * A unit's own config folder, as a worker has one: config.ini (the shared config, copied as
 * `pios sync-configs` would) and its unit_config.ini, so config routes never touch the leader's files.
 */
function unitDotPioreactor(leaderDot: string, unit: string): string {
  const dir = path.join(leaderDot, "simulated", unit);
  fs.mkdirSync(dir, { recursive: true });
  const shared = path.join(leaderDot, "config.ini");
  if (fs.existsSync(shared)) fs.copyFileSync(shared, path.join(dir, "config.ini"));
  return dir;
}

/**
 * Every key of a unit's merged config as overrides. Values are already interpolated, so a literal
 * `%` is escaped again for the second interpolation the overrides get.
 */
export function mergedConfigAsOverrides(dotPioreactor: string): ConfigOverride[] {
  const out: ConfigOverride[] = [];
  for (const [section, items] of Object.entries(renderMergedConfig(dotPioreactor))) {
    for (const [key, value] of Object.entries(items)) out.push([section, key, value === null ? null : value.replace(/%/g, "%%")]);
  }
  return out;
}

export function simUnitApis(deps: SimUnitApisDeps): Router {
  const router = express.Router();
  for (const [name, unit] of deps.units) {
    const dot = unitDotPioreactor(deps.dotPioreactor, name);
    const jobLauncher = new SimUnitJobLauncher({ unit, currentExperiment: deps.currentExperiment, unitConfig: () => mergedConfigAsOverrides(dot) });
    const { app } = createApp({
      unitName: name,
      isLeader: false,
      dotPioreactor: dot,
      config: deps.config,
      clock: deps.clock,
      mqtt: deps.mqtt,
      registry: unit.parts.registry,
      persistentCache: (cache) => unit.parts.persistentCache(cache),
      unitModel: async () => ({ modelName: unit.parts.model.modelName, modelVersion: unit.parts.model.modelVersion }),
      jobLauncher,
      jobStopper: new SimUnitJobStopper(unit, jobLauncher),
      fetch: deps.fetch,
      unitBaseUrl: deps.unitBaseUrl,
      testing: deps.testing,
    });
    router.use(simUnitPathPrefix(name), app);
  }
  return router;
}
