/**
 * `/api/units/<u>/plugins/{installed,install,uninstall}`: the same `/unit_api/plugins/*` route on
 * one registered unit or, for `$broadcast`, on every unit; TaskAccepted with a FanoutMap. Installs
 * and uninstalls are refused (403) while the leader has `DISALLOW_UI_INSTALLS`.
 */
import { type Request, type Response, Router } from "express";
import type { WebContext } from "../deps";
import { forbidden } from "../http-errors";
import { param } from "../http-util";
import { decodeArgsOptions } from "../unit-api/plugins";
import fs from "node:fs";
import path from "node:path";
import { targetUnits } from "./targets";

export function pluginRoutes(ctx: WebContext): Router {
  const r = Router();

  r.get("/units/:unit/plugins/installed", async (req, res) => {
    const units = await targetUnits(ctx, param(req.params.unit));
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("GET", "/unit_api/plugins/installed", units)));
  });

  const change = (action: "install" | "uninstall") => async (req: Request, res: Response) => {
    if (fs.existsSync(path.join(ctx.dotPioreactor, "DISALLOW_UI_INSTALLS"))) {
      throw forbidden(action === "install" ? "Not UI installed allowed." : "No UI uninstall allowed", {
        cause: "Plugin installs are disabled on the leader.",
        remediation: "Remove DISALLOW_UI_INSTALLS or install via SSH.",
      });
    }
    const body = decodeArgsOptions(req);
    const units = await targetUnits(ctx, param(req.params.unit));
    const payload = { args: body.args ?? [], options: body.options ?? {}, env: body.env ?? {} };
    // npm can take minutes: poll the unit's task for up to 10 minutes.
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", `/unit_api/plugins/${action}`, units, payload, { taskTimeoutMs: 10 * 60_000 })));
  };
  for (const action of ["install", "uninstall"] as const) {
    r.post(`/units/:unit/plugins/${action}`, change(action));
    r.patch(`/units/:unit/plugins/${action}`, change(action));
  }

  return r;
}
