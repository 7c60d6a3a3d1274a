/**
 * UI descriptor routes, both the local lists (`/api/…/descriptors`, `/unit_api/…/descriptors`)
 * and the leader's per-worker proxies, which the Pioreactors page uses.
 */
import { Router } from "express";
import { UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { allUnits } from "../cluster";
import type { WebContext } from "../deps";
import { fillBioreactorDescriptors } from "../bioreactor";
import { AUTOMATION_TYPES, type DescriptorKind, defaultBuiltinDescriptorsDir, loadDescriptors } from "../descriptors";
import { FileMemo } from "../file-memo";
import { badRequest, HttpError } from "../http-errors";
import { cacheFor, param } from "../http-util";

function automationKind(type: string): DescriptorKind {
  if (!(AUTOMATION_TYPES as readonly string[]).includes(type)) {
    throw badRequest("Not a valid automation type", { remediation: "choose one of 'temperature', 'dosing', 'led'" });
  }
  return `automations/${type}` as DescriptorKind;
}

/** The local descriptor routes, mounted under both `/api` and `/unit_api`. */
export function localDescriptorRoutes(ctx: WebContext): Router {
  const r = Router();
  const parsedFiles = new FileMemo<unknown>();
  const load = (kind: DescriptorKind) =>
    loadDescriptors(kind, {
      parsedFiles,
      builtinDir: ctx.builtinDescriptorsDir === undefined ? defaultBuiltinDescriptorsDir() : ctx.builtinDescriptorsDir,
      dotPioreactor: ctx.dotPioreactor,
      pluginDirs: ctx.pluginDescriptorDirs?.(),
      report: (m) => ctx.serverLog.error(m),
    });
  r.get("/jobs/descriptors", (_req, res) => {
    cacheFor(res).json(load("jobs"));
  });
  r.get("/settings/descriptors", (_req, res) => {
    const report = (m: string) => ctx.serverLog.error(m);
    cacheFor(res).json(fillBioreactorDescriptors(load("settings") as Array<Record<string, unknown>>, ctx.config(), report));
  });
  r.get("/automations/descriptors/:type", (req, res) => {
    cacheFor(res).json(load(automationKind(param(req.params.type))));
  });
  r.get("/charts/descriptors", (_req, res) => {
    cacheFor(res).json(load("charts"));
  });
  return r;
}

/** `/api/workers/<u>/{jobs,settings,automations}/descriptors…`: a synchronous proxy to that unit. */
export function workerDescriptorRoutes(ctx: WebContext): Router {
  const r = Router();
  const proxy = async (unit: string, endpoint: string) => {
    if (unit === UNIVERSAL_IDENTIFIER || !(await allUnits(ctx.leaderDb(), ctx.config())).includes(unit)) {
      throw badRequest(`Unknown Pioreactor unit: ${unit}`, {
        cause: "The requested unit is not registered in this cluster.",
        remediation: "Choose the leader or a Pioreactor unit from inventory.",
      });
    }
    const answer = await ctx.fanout.callOne("GET", endpoint, unit, undefined, { requestTimeoutMs: 10_000 });
    if (!answer.ok) {
      throw new HttpError(502, `Could not load descriptors from ${unit}: ${answer.error.message}`, {
        cause: answer.error.cause ?? answer.error.kind,
        remediation: "Check that the worker is online and retry.",
      });
    }
    return answer.value;
  };
  r.get("/workers/:unit/jobs/descriptors", async (req, res) => {
    cacheFor(res).json(await proxy(param(req.params.unit), "/unit_api/jobs/descriptors"));
  });
  r.get("/workers/:unit/settings/descriptors", async (req, res) => {
    cacheFor(res).json(await proxy(param(req.params.unit), "/unit_api/settings/descriptors"));
  });
  r.get("/workers/:unit/automations/descriptors/:type", async (req, res) => {
    const type = param(req.params.type);
    automationKind(type);
    cacheFor(res).json(await proxy(param(req.params.unit), `/unit_api/automations/descriptors/${type}`));
  });
  return r;
}
