/** `/unit_api/health`, `/unit_api/task_results/<id>` and this unit's own config files. */
import fs from "node:fs";
import { Router } from "express";
import { writeFileAtomicSync } from "../../../config/atomic-write";
import { IniDocument } from "../../../config/ini";
import { LayeredConfig } from "../../../config/layered";
import { readTextOrEmpty, renderMergedConfig } from "../api/config";
import { isoMillis } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest } from "../http-errors";
import { cacheFor, param, sendText } from "../http-util";
import { normalizeIniText, validateIniText } from "../ini-validation";
import { decodeBody } from "../request-body";
import { resolveInside } from "../safe-files";
import { resultUrlPath } from "../task-store";

export function unitSystemRoutes(ctx: WebContext): Router {
  const r = Router();

  r.get("/health", (_req, res) => {
    cacheFor(res, 0).json({ status: "ok", pioreactor_unit: ctx.unitName, utc_time: isoMillis(ctx.clock.now()) });
  });

  r.get("/task_results/:id", (req, res) => {
    const id = param(req.params.id);
    const outcome = ctx.tasks.outcome(id);
    const head = { task_id: id, result_url_path: resultUrlPath(id) };
    res.status(outcome.status === "pending" || outcome.status === "running" ? 202 : 200).json({ ...head, ...outcome });
  });

  r.get("/config/merged", (_req, res) => {
    res.json(renderMergedConfig(ctx.dotPioreactor));
  });

  r.get("/config/specific", (_req, res) => {
    cacheFor(res, 0);
    sendText(res, readTextOrEmpty(resolveInside(ctx.dotPioreactor, "unit_config.ini")));
  });

  const saveSpecific = (req: import("express").Request, res: import("express").Response) => {
    const body = decodeBody<{ code: string }>(req, { fields: { code: { type: "str", required: true } }, forbidUnknown: true });
    const code = normalizeIniText(body.code);
    const specific = validateIniText(code);
    const shared = resolveInside(ctx.dotPioreactor, "config.ini");
    try {
      LayeredConfig.fromDocuments(IniDocument.parse(fs.existsSync(shared) ? fs.readFileSync(shared, "utf8") : ""), specific);
    } catch (e) {
      throw badRequest((e as Error).message, { cause: "unit_config.ini does not merge with config.ini." });
    }
    writeFileAtomicSync(resolveInside(ctx.dotPioreactor, "unit_config.ini"), code);
    ctx.configChanged?.();
    res.json({ status: "success" });
  };
  r.post("/config/specific", saveSpecific);
  r.patch("/config/specific", saveSpecific);

  return r;
}
