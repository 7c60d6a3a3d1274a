/**
 * The model registry and local-network facts every page asks for: `GET /api/models`, a worker's
 * model (`GET|PUT /api/workers/<u>/model`, what MissingWorkerModelModal sets), and
 * `GET /api/local_access_point`.
 */
import fs from "node:fs";
import { Router } from "express";
import { UNIVERSAL_EXPERIMENT } from "../../../pubsub/topics";
import type { WebContext } from "../deps";
import { badRequest, notFound } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { registeredModels } from "../reactor-models";
import { decodeBody } from "../request-body";
import { requireRegisteredWorker } from "./workers";

/** The original checks this file (`is_using_local_access_point`). */
export const LOCAL_ACCESS_POINT_FLAG = "/boot/firmware/local_access_point";

export function modelRoutes(ctx: WebContext, localAccessPointFlag = LOCAL_ACCESS_POINT_FLAG): Router {
  const r = Router();

  r.get("/models", (_req, res) => {
    cacheFor(res, 5).json({ models: registeredModels(ctx.dotPioreactor) });
  });

  r.get("/workers/:unit/model", async (req, res) => {
    const unit = param(req.params.unit);
    const row = await ctx.leaderDb()("workers").where("pioreactor_unit", unit).first("pioreactor_unit", "model_name", "model_version");
    if (!row) throw notFound("Worker not found", { cause: "Worker name not found in database.", remediation: "Check the unit name or add the worker to the inventory." });
    const model = row.model_name && row.model_version ? registeredModels(ctx.dotPioreactor).find((m) => m.model_name === row.model_name && m.model_version === row.model_version) : undefined;
    if (!model) {
      throw notFound(`Model not set for worker ${unit}.`, { cause: "Model not set in database.", remediation: "Set the model of this worker." });
    }
    cacheFor(res, 5).json({ pioreactor_unit: row.pioreactor_unit, ...model });
  });

  r.put("/workers/:unit/model", async (req, res) => {
    const db = ctx.leaderDb();
    const unit = await requireRegisteredWorker(db, param(req.params.unit));
    const body = decodeBody<{ model_name: string; model_version: string }>(req, {
      fields: { model_name: { type: "str", required: true }, model_version: { type: "str", required: true } },
      forbidUnknown: true,
    });
    if (!registeredModels(ctx.dotPioreactor).some((m) => m.model_name === body.model_name && m.model_version === body.model_version)) {
      throw badRequest("Model name or version not found in available models.", {
        cause: `Unknown model '${body.model_name}' with version '${body.model_version}'.`,
        remediation: "Use a model_name and model_version from the registered models list.",
      });
    }
    const updated = await db("workers").where("pioreactor_unit", unit).update({ model_name: body.model_name, model_version: body.model_version });
    if (updated === 0) {
      throw notFound(`Worker ${unit} not found`, { cause: "Worker name not found in database.", remediation: "Check the unit name or add the worker to the inventory." });
    }
    ctx.serverLog.child("worker_model", UNIVERSAL_EXPERIMENT).info(`Set ${unit} to ${body.model_name}, ${body.model_version}.`);
    res.status(200).json({ status: "success" });
  });

  r.get("/local_access_point", (_req, res) => {
    cacheFor(res, 10_000).json({ active: fs.existsSync(localAccessPointFlag) });
  });

  return r;
}
